using MLConv.Training.Kernels;

namespace MLConv.Tests.Kernels;

[TestClass]
public sealed class ConvGemmTests
{
    [TestMethod]
    [DataRow(40, 3, 8, 6, 1, 3, 1, 1)]   // small images: several samples share a column block, many blocks
    [DataRow(5, 4, 20, 8, 2, 3, 2, 1)]   // grouped, strided: one sample a block
    [DataRow(9, 6, 7, 5, 1, 1, 1, 0)]    // 1x1: the image is the column matrix
    [DataRow(1, 16, 40, 8, 1, 3, 1, 1)]  // one large image: its im2col is spread over the threads
    public void ResultsDoNotDependOnTheThreadCount(int n, int cin, int hw, int cout, int groups, int k, int stride, int pad)
    {
        var g = new Window2d(k, k, stride, stride, pad, pad, pad, pad);
        var (oh, ow) = g.OutputSize(hw, hw);
        var r = new Random(n + cin + hw);
        float[] Rand(int len) => [.. Enumerable.Range(0, len).Select(_ => (float)(r.NextDouble() * 2 - 1))];
        float[] x = Rand(n * cin * hw * hw), w = Rand(cout * cin / groups * k * k), b = Rand(cout), dy = Rand(n * cout * oh * ow);

        (float[] Y, float[] DW, float[] DB, float[] DX) Run(int threads)
        {
            int saved = Parallelism.MaxThreads;
            try
            {
                Parallelism.MaxThreads = threads;
                float[] y = new float[dy.Length], dw = new float[w.Length], db = new float[cout], dx = new float[x.Length];
                ConvGemm.Forward(x, w, b, y, n, cin, hw, hw, cout, groups, g, oh, ow);
                ConvGemm.Backward(x, w, dy, dw, db, dx, n, cin, hw, hw, cout, groups, g, oh, ow);
                return (y, dw, db, dx);
            }
            finally { Parallelism.MaxThreads = saved; }
        }

        var one = Run(1);
        foreach (int threads in new[] { 2, 3, 16 })
        {
            var many = Run(threads);
            CollectionAssert.AreEqual(one.Y, many.Y, $"y, {threads} threads");
            CollectionAssert.AreEqual(one.DW, many.DW, $"dW, {threads} threads");
            CollectionAssert.AreEqual(one.DB, many.DB, $"db, {threads} threads");
            CollectionAssert.AreEqual(one.DX, many.DX, $"dX, {threads} threads");
        }
    }
}

[TestClass]
public sealed class ConvGemmInputGradientTests
{
    /// <summary>dX = col2im(Wᵀ·dY) against a naive scatter loop in double, on LeNet conv1's geometry (one input channel, 5x5, pad 2) and a strided grouped one.</summary>
    [TestMethod]
    [DataRow(3, 1, 28, 26, 6, 1, 5, 1, 2)]
    [DataRow(64, 1, 28, 28, 6, 1, 5, 1, 2)]
    [DataRow(2, 4, 11, 9, 6, 2, 3, 2, 1)]
    public void InputGradientMatchesNaiveScatter(int n, int cin, int h, int w, int cout, int groups, int k, int stride, int pad)
    {
        var g = new Window2d(k, k, stride, stride, pad, pad, pad, pad);
        var (oh, ow) = g.OutputSize(h, w);
        var r = new Random(n * 7 + cin);
        float[] Rand(int len) => [.. Enumerable.Range(0, len).Select(_ => (float)(r.NextDouble() * 2 - 1))];
        int cg = cin / groups, mg = cout / groups;
        float[] x = Rand(n * cin * h * w), wt = Rand(cout * cg * k * k), dy = Rand(n * cout * oh * ow);
        float[] dw = new float[wt.Length], db = new float[cout], dx = Rand(x.Length);   // garbage in dx: it must be overwritten
        ConvGemm.Backward(x, wt, dy, dw, db, dx, n, cin, h, w, cout, groups, g, oh, ow);
        var expected = new double[x.Length];
        for (int b = 0; b < n; b++)
        for (int co = 0; co < cout; co++)
        for (int i = 0; i < oh; i++)
        for (int j = 0; j < ow; j++)
        for (int c = 0; c < cg; c++)
        for (int u = 0; u < k; u++)
        for (int v = 0; v < k; v++)
        {
            int yy = i * stride - pad + u, xx = j * stride - pad + v, ci = co / mg * cg + c;
            if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
            expected[((b * cin + ci) * h + yy) * w + xx] += wt[((co * cg + c) * k + u) * k + v] * dy[((b * cout + co) * oh + i) * ow + j];
        }
        for (int i = 0; i < x.Length; i++) Assert.AreEqual(expected[i], dx[i], 1e-4, $"dx[{i}]");
    }
}

/// <summary>
/// Large images run band by band (the columns of a band of output rows, then its GEMMs), deep small ones in wide blocks of
/// samples: forward, dW, db and dX against
/// naive loops in double, on shapes large enough to band, with stride, asymmetric padding, dilation and groups.
/// </summary>
[TestClass]
public sealed class ConvGemmBandTests
{
    [TestMethod]
    [DataRow(2, 8, 41, 39, 7, 1, 3, 3, 1, 1, 1, 1, 1, 1)]    // 3x3 "same": two bands
    [DataRow(1, 6, 100, 81, 4, 2, 3, 5, 2, 2, 1, 2, 0, 1)]  // grouped, non-square kernel, stride 2, asymmetric padding
    [DataRow(2, 3, 90, 75, 5, 1, 7, 7, 2, 2, 3, 3, 3, 3)]    // a 7x7 stride-2 stem on three channels
    [DataRow(1, 4, 64, 61, 6, 2, 3, 3, 1, 1, 2, 2, 2, 2, 2)] // dilation 2
    [DataRow(7, 64, 5, 6, 8, 1, 3, 3, 1, 1, 1, 1, 1, 1)]     // deep and small (ResNet layer4-like): blocks of samples give ≥ 256 columns
    public void BandedConvolutionMatchesNaiveLoops(int n, int cin, int h, int w, int cout, int groups, int kh, int kw,
        int sh, int sw, int pt, int pl, int pb, int pr, int dil = 1)
    {
        var g = new Window2d(kh, kw, sh, sw, pt, pl, pb, pr, dil, dil);
        var (oh, ow) = g.OutputSize(h, w);
        int cg = cin / groups, mg = cout / groups;
        var r = new Random(h * 31 + w);
        float[] Rand(int len) => [.. Enumerable.Range(0, len).Select(_ => (float)(r.NextDouble() * 2 - 1))];
        float[] x = Rand(n * cin * h * w), wt = Rand(cout * cg * kh * kw), bias = Rand(cout), dy = Rand(n * cout * oh * ow);
        var y = new float[dy.Length];
        float[] dw = new float[wt.Length], db = new float[cout], dx = Rand(x.Length);
        ConvGemm.Forward(x, wt, bias, y, n, cin, h, w, cout, groups, g, oh, ow);
        ConvGemm.Backward(x, wt, dy, dw, db, dx, n, cin, h, w, cout, groups, g, oh, ow);

        var ey = new double[y.Length];
        var edw = new double[dw.Length];
        var edb = new double[cout];
        var edx = new double[dx.Length];
        for (int b = 0; b < n; b++)
        for (int co = 0; co < cout; co++)
        for (int i = 0; i < oh; i++)
        for (int j = 0; j < ow; j++)
        {
            int yi = ((b * cout + co) * oh + i) * ow + j;
            double s = bias[co], d = dy[yi];
            edb[co] += d;
            for (int c = 0; c < cg; c++)
            for (int u = 0; u < kh; u++)
            for (int v = 0; v < kw; v++)
            {
                int yy = i * sh - pt + u * dil, xx = j * sw - pl + v * dil, ci = co / mg * cg + c;
                if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
                int xi = ((b * cin + ci) * h + yy) * w + xx, wi = ((co * cg + c) * kh + u) * kw + v;
                s += (double)wt[wi] * x[xi];
                edw[wi] += d * x[xi];
                edx[xi] += d * wt[wi];
            }
            ey[yi] = s;
        }
        for (int i = 0; i < y.Length; i++) Assert.AreEqual(ey[i], y[i], 1e-4, $"y[{i}]");
        for (int i = 0; i < dw.Length; i++) Assert.AreEqual(edw[i], dw[i], 1e-3 + 1e-5 * Math.Abs(edw[i]), $"dW[{i}]");
        for (int i = 0; i < cout; i++) Assert.AreEqual(edb[i], db[i], 1e-3, $"db[{i}]");
        for (int i = 0; i < dx.Length; i++) Assert.AreEqual(edx[i], dx[i], 1e-4, $"dx[{i}]");
    }
}
