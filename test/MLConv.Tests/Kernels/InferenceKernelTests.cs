using MLConv.Training.Kernels;
using MLConv.Training.Layers;
using MLConv.Training.Tensors;

namespace MLConv.Tests.Kernels;

/// <summary>
/// The inference-only kernels: <see cref="Pool2d.ForwardValues"/> (max/min without arg indices) against the selecting
/// <see cref="Pool2d.Forward"/> (itself checked against the naive loop) and a naive loop, <see cref="AddReLU"/> against
/// a naive loop, and the worker pool behind <see cref="Parallelism"/>; random non-square shapes, NaN and infinities,
/// 1 and 3 threads (results must not depend on the thread count).
/// </summary>
[TestClass]
public sealed class InferenceKernelTests
{
    private static float[] Random(Random r, int n, bool specials)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(r.NextDouble() * 2 - 1);
        if (specials && n > 8)
        {
            a[r.Next(n)] = float.NaN;
            a[r.Next(n)] = float.PositiveInfinity;
            a[r.Next(n)] = float.NegativeInfinity;
        }
        return a;
    }

    private static void WithThreads(Action<int> body)
    {
        int saved = Parallelism.MaxThreads;
        try
        {
            foreach (int t in new[] { 1, 3 }) { Parallelism.MaxThreads = t; body(t); }
        }
        finally { Parallelism.MaxThreads = saved; }
    }

    /// <summary>y of a max (min) window the slow way: the first in-input tap, then every other; NaN wins; ±∞ for an empty window.</summary>
    private static float[] NaivePool(bool max, float[] x, int planes, int h, int w, Window2d g, int oh, int ow)
    {
        var y = new float[planes * oh * ow];
        for (int p = 0; p < planes; p++)
        for (int i = 0; i < oh; i++)
        for (int j = 0; j < ow; j++)
        {
            float acc = max ? float.NegativeInfinity : float.PositiveInfinity;
            bool nan = false;
            for (int u = 0; u < g.KernelH; u++)
            for (int v = 0; v < g.KernelW; v++)
            {
                int yy = i * g.StrideH - g.PadTop + u * g.DilationH, xx = j * g.StrideW - g.PadLeft + v * g.DilationW;
                if ((uint)yy >= (uint)h || (uint)xx >= (uint)w) continue;
                float val = x[(p * h + yy) * w + xx];
                nan |= float.IsNaN(val);
                acc = max ? Math.Max(acc, val) : Math.Min(acc, val);
            }
            y[(p * oh + i) * ow + j] = nan ? float.NaN : acc;
        }
        return y;
    }

    [TestMethod]
    [DataRow(3, 3, 2, 2, 1, 1, 0, 0, 1, 1, 13, 17)]   // ResNet's stem pool (asymmetric padding as CNTK writes it), odd sizes
    [DataRow(3, 3, 2, 2, 0, 0, 0, 0, 1, 1, 23, 15)]   // SqueezeNet's pools
    [DataRow(3, 3, 2, 2, 1, 1, 0, 0, 1, 1, 19, 113)]  // stride 2 eight outputs at a time (even/odd columns), ragged tail
    [DataRow(2, 2, 2, 2, 0, 0, 0, 0, 1, 1, 9, 64)]    // 2x2 stride 2
    [DataRow(5, 4, 3, 2, 2, 2, 2, 1, 1, 1, 11, 75)]   // 5x4 window, stride 3 x 2, padded
    [DataRow(2, 3, 1, 2, 1, 0, 1, 1, 1, 1, 9, 11)]    // rectangular window, stride 1 x 2, padding on three sides
    [DataRow(3, 2, 2, 1, 1, 1, 1, 1, 2, 3, 10, 9)]    // dilated: windows that fall entirely in the padding
    [DataRow(1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 5, 7)]     // 1x1: a copy
    [DataRow(3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 40, 2100)] // rows wider than the stack buffer
    public void PoolValuesMatchTheSelectingKernelAndNaive(int kh, int kw, int sh, int sw, int pt, int pl, int pb, int pr, int dh, int dw, int h, int w)
    {
        var r = new Random(kh * 31 + w);
        var g = new Window2d(kh, kw, sh, sw, pt, pl, pb, pr, dh, dw);
        var (oh, ow) = g.OutputSize(h, w);
        int planes = 5;
        var x = Random(r, planes * h * w, specials: true);
        for (int i = 0; i < 6; i++) x[r.Next(x.Length)] = i % 2 == 0 ? float.NaN : -0f;
        WithThreads(t =>
        {
            foreach (var mode in new[] { PoolMode.Max, PoolMode.Min })
            {
                float[] selecting = new float[planes * oh * ow], values = new float[planes * oh * ow];
                Pool2d.Forward(mode, x, planes, h, w, g, false, selecting, oh, ow, new int[planes * oh * ow]);
                Pool2d.ForwardValues(mode, x, planes, h, w, g, values, oh, ow);
                CollectionAssert.AreEqual(selecting, values, $"{mode} vs Forward, {t} threads");
                CollectionAssert.AreEqual(NaivePool(mode == PoolMode.Max, x, planes, h, w, g, oh, ow), values, $"{mode} vs naive, {t} threads");
            }
        });
    }

    /// <summary>An inference forward of MaxPool2d keeps no arg indices; a backward after it finds them and gives the training path's dX.</summary>
    [TestMethod]
    public void MaxPoolBackwardAfterAnInferenceForward()
    {
        var r = new Random(4);
        var x = Tensor.FromArray(Random(r, 2 * 3 * 11 * 9, specials: false), 2, 3, 11, 9);
        var dy = Tensor.FromArray(Random(r, 2 * 3 * 6 * 5, specials: false), 2, 3, 6, 5);
        var trained = new MaxPool2d(3, 2, 1);
        var yT = trained.Forward(x, training: true).Clone();
        var dxT = trained.Backward(dy).Clone();
        var inferred = new MaxPool2d(3, 2, 1);
        var yI = inferred.Forward(x, training: false).Clone();
        CollectionAssert.AreEqual(yT.Span.ToArray(), yI.Span.ToArray(), "y");
        CollectionAssert.AreEqual(dxT.Span.ToArray(), inferred.Backward(dy).Span.ToArray(), "dX");
    }

    [TestMethod]
    [DataRow(1)]
    [DataRow(7)]
    [DataRow(8)]
    [DataRow(16384 + 13)]
    [DataRow(3 * 16384 + 5)]
    public void AddReLUMatchesNaive(int n)
    {
        var r = new Random(n);
        var a = Random(r, n + 3, specials: true);
        var b = Random(r, n + 3, specials: true);
        WithThreads(t =>
        {
            foreach (bool relu in new[] { false, true })
            {
                var expected = new float[n + 3];
                for (int i = 0; i < n; i++)
                {
                    float v = a[i] + b[i];
                    expected[i] = relu && !float.IsNaN(v) ? Math.Max(v, 0f) : v;
                }
                var y = new float[n + 3];
                AddReLU.Run(a, b, y, n, relu);
                CollectionAssert.AreEqual(expected, y, $"n {n}, relu {relu}, {t} threads (the 3 beyond n untouched)");
                var inPlace = (float[])a.Clone();
                AddReLU.Run(inPlace, b, inPlace, n, relu);
                CollectionAssert.AreEqual(expected[..n], inPlace[..n], "y aliasing a");
            }
        });
    }

    /// <summary>
    /// One large image whose output bands go to different threads (ResNet's and MobileNetV2's stems at batch 1): each band's
    /// im2col, GEMMs and fused ReLU on one thread. Against the naive double loop, and bit for bit the same for 1, 2 and 3 threads.
    /// </summary>
    [TestMethod]
    [DataRow(3, 8, 150, 97, 7, 2, 3, 1, true)]    // 7x7 stride-2 stem, odd width
    [DataRow(3, 16, 225, 222, 3, 2, 1, 1, false)] // 3x3 stride-2 stem (4 bands)
    [DataRow(8, 12, 90, 77, 3, 1, 1, 2, true)]    // grouped 3x3
    public void BandsSpreadOverThreadsMatchNaive(int cin, int cout, int h, int w, int k, int stride, int pad, int groups, bool relu)
    {
        var r = new Random(h + w);
        var g = new Window2d(k, k, stride, stride, pad, pad, pad, pad);
        var (oh, ow) = g.OutputSize(h, w);
        var x = Random(r, cin * h * w, specials: false);
        var wt = Random(r, cout * cin / groups * k * k, specials: false);
        var b = Random(r, cout, specials: false);
        var expected = Reference.Naive.Conv([.. x.Select(v => (double)v)], 1, cin, h, w, [.. wt.Select(v => (double)v)], [.. b.Select(v => (double)v)], cout,
            new Reference.Naive.Geo(k, k, stride, stride, pad, pad, pad, pad), groups, out _, out _);
        float[]? first = null;
        int saved = Parallelism.MaxThreads;
        try
        {
            foreach (int t in new[] { 1, 2, 3 })
            {
                Parallelism.MaxThreads = t;
                var y = new float[cout * oh * ow];
                ConvGemm.Forward(x, wt, b, y, 1, cin, h, w, cout, groups, g, oh, ow, relu);
                double scale = expected.Max(Math.Abs);
                for (int i = 0; i < y.Length; i++)
                {
                    double e = relu ? Math.Max(expected[i], 0) : expected[i];
                    Assert.IsLessThanOrEqualTo(1e-5 * scale, Math.Abs(e - y[i]), $"element {i}, {t} threads");
                }
                if (first is null) first = y;
                else CollectionAssert.AreEqual(first, y, $"{t} threads vs 1");
            }
        }
        finally { Parallelism.MaxThreads = saved; }
    }

    /// <summary>Im2Col with stride 2 along the width (eight columns at a time from the even floats of a row) against its definition.</summary>
    [TestMethod]
    [DataRow(3, 7, 2, 3, 2, 37, 61)]    // the 7x7 stem's window
    [DataRow(4, 3, 2, 1, 1, 29, 58)]    // 3x3 stride 2, even width
    [DataRow(2, 1, 2, 0, 1, 17, 100)]   // 1x1 stride 2 (a ResNet shortcut)
    [DataRow(2, 3, 2, 1, 2, 21, 47)]    // dilated
    public void Im2ColStride2MatchesDefinition(int channels, int k, int stride, int pad, int dilation, int h, int w)
    {
        var r = new Random(w * 7 + k);
        var g = new Window2d(k, k, stride, stride, pad, pad, pad, pad, dilation, dilation);
        var (oh, ow) = g.OutputSize(h, w);
        var x = Random(r, channels * h * w, specials: false);
        var cols = new float[channels * k * k * oh * ow];
        Im2Col.Run(x, channels, h, w, g, oh, ow, cols, oh * ow);
        int row = 0;
        for (int c = 0; c < channels; c++)
        for (int ki = 0; ki < k; ki++)
        for (int kj = 0; kj < k; kj++, row++)
        for (int i = 0; i < oh; i++)
        for (int j = 0; j < ow; j++)
        {
            int yy = i * stride - pad + ki * dilation, xx = j * stride - pad + kj * dilation;
            float e = (uint)yy < (uint)h && (uint)xx < (uint)w ? x[(c * h + yy) * w + xx] : 0f;
            Assert.AreEqual(e, cols[row * oh * ow + i * ow + j], $"row {row}, pixel ({i}, {j})");
        }
    }

    /// <summary>Every index once; an exception in a worker reaches the caller; a nested loop (sent to the framework's scheduler) still runs.</summary>
    [TestMethod]
    public void WorkerPoolRunsEveryIndexOnceAndPropagatesErrors()
    {
        WithThreads(t =>
        {
            for (int rep = 0; rep < 50; rep++)
            {
                var hits = new int[37 + rep];
                Parallelism.For(hits.Length, 1 << 16, i => Interlocked.Increment(ref hits[i]));
                Assert.IsTrue(hits.All(h => h == 1), $"each index once ({t} threads, rep {rep})");
            }
            var nested = new int[6 * 5];
            Parallelism.For(6, 1 << 16, i => Parallelism.For(5, 1 << 16, j => Interlocked.Increment(ref nested[i * 5 + j])));
            Assert.IsTrue(nested.All(h => h == 1), "nested");
            var e = Assert.ThrowsExactly<InvalidOperationException>(() =>
                Parallelism.For(9, 1 << 16, i => { if (i == 7) throw new InvalidOperationException("item 7"); }));
            Assert.AreEqual("item 7", e.Message);
            var after = new int[9];
            Parallelism.For(9, 1 << 16, i => after[i] = i);
            CollectionAssert.AreEqual(Enumerable.Range(0, 9).ToArray(), after, "the pool works after an error");
        });
    }
}
