using MLConv.Training.Kernels;
using MLConv.Training.Layers;
using MLConv.Training.Tensors;

namespace MLConv.Tests.Kernels;

[TestClass]
public sealed class WinogradTests
{
    private static float[] Rand(Random r, int len) => [.. Enumerable.Range(0, len).Select(_ => (float)(r.NextDouble() * 2 - 1))];

    /// <summary>y = W ⋆ x + b (optionally ReLU) in double, the plain loop.</summary>
    private static double[] NaiveForward(float[] x, float[] w, float[]? b, int n, int cin, int h, int wd, int cout, Window2d g, int oh, int ow, bool relu)
    {
        var y = new double[n * cout * oh * ow];
        for (int s = 0; s < n; s++)
        for (int o = 0; o < cout; o++)
        for (int i = 0; i < oh; i++)
        for (int j = 0; j < ow; j++)
        {
            double acc = b?[o] ?? 0;
            for (int c = 0; c < cin; c++)
            for (int u = 0; u < 3; u++)
            for (int v = 0; v < 3; v++)
            {
                int yy = i - g.PadTop + u, xx = j - g.PadLeft + v;
                if (yy < 0 || yy >= h || xx < 0 || xx >= wd) continue;
                acc += (double)w[((o * cin + c) * 3 + u) * 3 + v] * x[((s * cin + c) * h + yy) * wd + xx];
            }
            y[((s * cout + o) * oh + i) * ow + j] = relu ? Math.Max(acc, 0) : acc;
        }
        return y;
    }

    /// <summary>dX = Σ over outputs of w · dy, scattered back in double.</summary>
    private static double[] NaiveInputGradient(float[] w, float[] dy, int n, int cin, int h, int wd, int cout, Window2d g, int oh, int ow)
    {
        var dx = new double[n * cin * h * wd];
        for (int s = 0; s < n; s++)
        for (int o = 0; o < cout; o++)
        for (int i = 0; i < oh; i++)
        for (int j = 0; j < ow; j++)
        for (int c = 0; c < cin; c++)
        for (int u = 0; u < 3; u++)
        for (int v = 0; v < 3; v++)
        {
            int yy = i - g.PadTop + u, xx = j - g.PadLeft + v;
            if (yy < 0 || yy >= h || xx < 0 || xx >= wd) continue;
            dx[((s * cin + c) * h + yy) * wd + xx] += (double)w[((o * cin + c) * 3 + u) * 3 + v] * dy[((s * cout + o) * oh + i) * ow + j];
        }
        return dx;
    }

    /// <summary>Largest |a − e| relative to the largest |e|.</summary>
    private static double RelativeError(double[] expected, float[] actual)
    {
        double err = 0, scale = 1e-30;
        for (int i = 0; i < expected.Length; i++)
        {
            err = Math.Max(err, Math.Abs(expected[i] - actual[i]));
            scale = Math.Max(scale, Math.Abs(expected[i]));
        }
        return err / scale;
    }

    [TestMethod]
    [DataRow(2, 3, 9, 13, 5, 1, 1, 1, 1, true, false)]     // odd, non-square, Cin ≠ Cout, bias
    [DataRow(1, 7, 5, 3, 4, 0, 0, 0, 0, false, true)]      // output 3x1: smaller than a tile
    [DataRow(3, 5, 11, 6, 9, 2, 0, 1, 2, true, true)]      // asymmetric paddings, relu
    [DataRow(4, 16, 14, 10, 12, 0, 2, 2, 0, true, false)]
    [DataRow(1, 2, 1, 1, 3, 1, 1, 1, 1, true, false)]      // a 1x1 image
    [DataRow(20, 9, 8, 8, 10, 1, 1, 1, 1, true, true)]     // many blocks
    public void ForwardAndInputGradientMatchNaiveLoops(int n, int cin, int h, int wd, int cout, int pt, int pl, int pb, int pr, bool bias, bool relu)
    {
        var g = new Window2d(3, 3, 1, 1, pt, pl, pb, pr);
        Assert.IsTrue(Winograd.Supports(g, 1));
        var (oh, ow) = g.OutputSize(h, wd);
        var r = new Random(n * 31 + cin * 7 + h);
        float[] x = Rand(r, n * cin * h * wd), w = Rand(r, cout * cin * 9), dy = Rand(r, n * cout * oh * ow);
        float[]? b = bias ? Rand(r, cout) : null;
        var expectedY = NaiveForward(x, w, b, n, cin, h, wd, cout, g, oh, ow, relu);
        var expectedDx = NaiveInputGradient(w, dy, n, cin, h, wd, cout, g, oh, ow);
        foreach (int tile in new[] { 2, 4 })
        {
            var y = Rand(r, expectedY.Length);   // garbage: it must be overwritten
            Winograd.Forward(x, w, b, y, n, cin, h, wd, cout, g, oh, ow, relu, tile);
            Assert.IsLessThan(1e-5, RelativeError(expectedY, y), $"y, F({tile}x{tile},3x3)");
            var dx = Rand(r, x.Length);
            Winograd.InputGradient(w, dy, dx, n, cin, h, wd, cout, g, oh, ow, tile);
            Assert.IsLessThan(1e-5, RelativeError(expectedDx, dx), $"dX, F({tile}x{tile},3x3)");
        }
    }

    /// <summary>float32 F(4×4) on a ResNet-like depth: within 1e-4 of the double loop relative to the output's range.</summary>
    [TestMethod]
    public void DeepChannelsStayAccurate()
    {
        int n = 2, cin = 256, cout = 24, h = 10, wd = 9;
        var g = new Window2d(3, 3, 1, 1, 1, 1, 1, 1);
        var r = new Random(5);
        float[] x = Rand(r, n * cin * h * wd), w = Rand(r, cout * cin * 9), dy = Rand(r, n * cout * h * wd);
        var y = new float[n * cout * h * wd];
        Winograd.Forward(x, w, null, y, n, cin, h, wd, cout, g, h, wd, false, 4);
        Assert.IsLessThan(1e-4, RelativeError(NaiveForward(x, w, null, n, cin, h, wd, cout, g, h, wd, false), y));
        var dx = new float[x.Length];
        Winograd.InputGradient(w, dy, dx, n, cin, h, wd, cout, g, h, wd, 4);
        Assert.IsLessThan(1e-4, RelativeError(NaiveInputGradient(w, dy, n, cin, h, wd, cout, g, h, wd), dx));
    }

    [TestMethod]
    [DataRow(1, 8, 20, 17, 6)]     // one image: the stages of a block are spread
    [DataRow(12, 5, 9, 12, 7)]     // many blocks, one per thread
    public void ResultsDoNotDependOnTheThreadCount(int n, int cin, int h, int wd, int cout)
    {
        var g = new Window2d(3, 3, 1, 1, 1, 1, 1, 1);
        var r = new Random(n + cin);
        float[] x = Rand(r, n * cin * h * wd), w = Rand(r, cout * cin * 9), b = Rand(r, cout), dy = Rand(r, n * cout * h * wd);
        foreach (int tile in new[] { 2, 4 })
        {
            (float[] Y, float[] DX) Run(int threads)
            {
                int saved = Parallelism.MaxThreads;
                try
                {
                    Parallelism.MaxThreads = threads;
                    float[] y = new float[dy.Length], dx = new float[x.Length];
                    Winograd.Forward(x, w, b, y, n, cin, h, wd, cout, g, h, wd, true, tile);
                    Winograd.InputGradient(w, dy, dx, n, cin, h, wd, cout, g, h, wd, tile);
                    return (y, dx);
                }
                finally { Parallelism.MaxThreads = saved; }
            }
            var one = Run(1);
            foreach (int threads in new[] { 2, 3, 16 })
            {
                var many = Run(threads);
                CollectionAssert.AreEqual(one.Y, many.Y, $"y, F({tile}), {threads} threads");
                CollectionAssert.AreEqual(one.DX, many.DX, $"dX, F({tile}), {threads} threads");
            }
        }
    }

    [TestMethod]
    public void SmallChannelCountsStayOnIm2Col()
    {
        Assert.AreEqual(0, Winograd.TileFor(1, 6, 28, 28));
        Assert.AreEqual(0, Winograd.TileFor(3, 64, 224, 224));
        Assert.IsFalse(Winograd.Supports(new Window2d(3, 3, 2, 2, 1, 1, 1, 1), 1));
        Assert.IsFalse(Winograd.Supports(new Window2d(3, 3, 1, 1, 1, 1, 1, 1), 2));
        Assert.IsFalse(Winograd.Supports(new Window2d(3, 3, 1, 1, 3, 3, 3, 3), 1));
        Assert.IsFalse(Winograd.Supports(new Window2d(3, 3, 1, 1, 1, 1, 1, 1, 2, 2), 1));
    }

    /// <summary>Fewer than 12 tiles in the whole batch (one 7×7 map: 4) stay on im2col; a plan's "any size" query does not overflow.</summary>
    [TestMethod]
    public void TooFewTilesStayOnIm2Col()
    {
        Assert.AreEqual(0, Winograd.TileFor(512, 512, 7, 7, batch: 1));
        Assert.AreEqual(0, Winograd.TileFor(512, 512, 7, 7, batch: 2));
        Assert.AreEqual(4, Winograd.TileFor(512, 512, 7, 7, batch: 3));
        Assert.AreEqual(4, Winograd.TileFor(256, 256, 14, 14, batch: 1));
        Assert.AreEqual(4, Winograd.TileFor(512, 512, int.MaxValue, int.MaxValue, int.MaxValue));
    }

    /// <summary>
    /// A plan prepared for Winograd that meets one 7×7 map runs im2col with GEMM weights packed on first use: the same
    /// outputs as unplanned, and a later batch of 8 (Winograd again) matches too; disposing drops both.
    /// </summary>
    [TestMethod]
    public void PlannedSmallBatchFallsBackToIm2ColWithPackedWeights()
    {
        var r = new Random(21);
        var conv = new Conv2d(40, 36, 3, padding: 1, rng: new Random(2));
        var net = new Sequential(conv, new ReLU());
        foreach (int n in new[] { 1, 8, 1 })
        {
            var x = new Tensor(n, 40, 7, 7);
            for (int i = 0; i < x.Length; i++) x[i] = (float)(r.NextDouble() * 2 - 1);
            var expected = net.Forward(x, training: false).Span.ToArray();
            using (InferencePlan.Prepare(net))
            {
                var planned = net.Forward(x, training: false).Span.ToArray();
                var again = net.Forward(x, training: false).Span.ToArray();
                for (int i = 0; i < expected.Length; i++)
                {
                    Assert.AreEqual(expected[i], planned[i], 1e-5f, $"batch {n}: y[{i}]");
                    Assert.AreEqual(planned[i], again[i], $"batch {n}: the second planned forward, y[{i}]");
                }
            }
        }
    }

    /// <summary>A Conv2d whose forward and dX dispatch to Winograd: the same forward and gradients as the im2col path.</summary>
    [TestMethod]
    [DataRow(4)]
    [DataRow(2)]
    public void Conv2dLayerMatchesTheIm2ColPath(int tile)
    {
        var r = new Random(3);
        var x = new Tensor(3, 32, 11, 9);
        for (int i = 0; i < x.Length; i++) x[i] = (float)(r.NextDouble() * 2 - 1);
        var dy = new Tensor(3, 40, 11, 9);
        for (int i = 0; i < dy.Length; i++) dy[i] = (float)(r.NextDouble() * 2 - 1);
        (float[] Y, float[] DX, float[] DW, float[] DB) Run(int forced)
        {
            int saved = Winograd.Override;
            try
            {
                Winograd.Override = forced;
                var conv = new Conv2d(32, 40, 3, padding: 1, rng: new Random(2));
                for (int i = 0; i < 40; i++) conv.Bias!.Value[i] = 0.01f * i;
                var y = conv.Forward(x, training: true).Span.ToArray();
                var dx = conv.Backward(dy).Span.ToArray();
                return (y, dx, conv.Weight.Grad.Span.ToArray(), conv.Bias!.Grad.Span.ToArray());
            }
            finally { Winograd.Override = saved; }
        }
        var gemm = Run(-1);
        var wino = Run(tile);
        double Rel(float[] e, float[] a) => RelativeError([.. e.Select(v => (double)v)], a);
        Assert.IsLessThan(1e-5, Rel(gemm.Y, wino.Y), "y");
        Assert.IsLessThan(1e-5, Rel(gemm.DX, wino.DX), "dX");
        CollectionAssert.AreEqual(gemm.DW, wino.DW, "dW");
        CollectionAssert.AreEqual(gemm.DB, wino.DB, "db");
    }

    /// <summary>Finite differences in double on the loss Σ y·dy, through a Conv2d that dispatches to Winograd by its measured rule.</summary>
    [TestMethod]
    public void Conv2dInputGradientMatchesFiniteDifferences()
    {
        var r = new Random(9);
        int cin = 64, cout = 64, h = 8, wd = 7;
        Assert.AreNotEqual(0, Winograd.TileFor(cin, cout, h, wd), "the case must dispatch to Winograd");
        var conv = new Conv2d(cin, cout, 3, padding: 1, rng: new Random(4));
        var x = new Tensor(2, cin, h, wd);
        for (int i = 0; i < x.Length; i++) x[i] = (float)(r.NextDouble() * 2 - 1);
        var dy = new Tensor(2, cout, h, wd);
        for (int i = 0; i < dy.Length; i++) dy[i] = (float)(r.NextDouble() * 2 - 1);
        conv.Forward(x, training: true);
        var dx = conv.Backward(dy).Span.ToArray();
        double Loss()
        {
            var y = conv.Forward(x, training: true);
            double s = 0;
            for (int i = 0; i < y.Length; i++) s += (double)y[i] * dy[i];
            return s;
        }
        const float eps = 1e-2f;
        foreach (int i in new[] { 0, 17, 555, x.Length / 2, x.Length - 1 })
        {
            float saved = x[i];
            x[i] = saved + eps; double plus = Loss();
            x[i] = saved - eps; double minus = Loss();
            x[i] = saved;
            double fd = (plus - minus) / (2 * eps);
            Assert.AreEqual(fd, dx[i], 2e-2 * Math.Max(1, Math.Abs(fd)), $"dx[{i}]");
        }
    }

    /// <summary>An inference plan keeps the transformed weights: its forward equals the unplanned one (BN folded, ReLU fused).</summary>
    [TestMethod]
    public void PlannedForwardWithTransformedWeightsEqualsUnplanned()
    {
        var r = new Random(12);
        var conv = new Conv2d(48, 40, 3, padding: 1, rng: new Random(1));
        Assert.AreNotEqual(0, Winograd.TileFor(48, 40, 12, 10));
        var x = new Tensor(2, 48, 12, 10);
        for (int i = 0; i < x.Length; i++) x[i] = (float)(r.NextDouble() * 2 - 1);
        var net = new Sequential(conv, new ReLU());
        var expected = net.Forward(x, training: false).Span.ToArray();
        using (InferencePlan.Prepare(net))
        {
            Assert.IsTrue(conv.IsInferenceFused);
            var planned = net.Forward(x, training: false).Span.ToArray();
            for (int i = 0; i < expected.Length; i++) Assert.AreEqual(expected[i], planned[i], 1e-6f, $"y[{i}]");
        }
    }
}
