using MLConv.Tests.Reference;
using MLConv.Training.Layers;

namespace MLConv.Tests.Layers;

[TestClass]
public sealed class ConvTranspose2dTests
{
    /// <summary>
    /// Naive scatter from the definition: every input pixel x[n, ci, i, j] adds x·w[ci, co', u, v] onto
    /// y[n, g·(Cout/g) + co', i·s − pt + u·d, j·s − pl + v·d] (dropped outside the output), plus the bias.
    /// </summary>
    internal static double[] Reference(double[] x, double[] wt, double[]? b, int n, int cin, int h, int w, int cout,
        ConvTranspose2d c, int oh, int ow)
    {
        var g = c.Geometry;
        int cg = cin / c.Groups, og = cout / c.Groups;
        var y = new double[n * cout * oh * ow];
        for (int b0 = 0; b0 < n; b0++)
        for (int co = 0; co < cout; co++)
        for (int k = 0; k < oh * ow; k++) y[(b0 * cout + co) * oh * ow + k] = b?[co] ?? 0;
        for (int b0 = 0; b0 < n; b0++)
        for (int ci = 0; ci < cin; ci++)
        for (int i = 0; i < h; i++)
        for (int j = 0; j < w; j++)
        for (int o = 0; o < og; o++)
        for (int u = 0; u < g.KernelH; u++)
        for (int v = 0; v < g.KernelW; v++)
        {
            int yy = i * g.StrideH - g.PadTop + u * g.DilationH, xx = j * g.StrideW - g.PadLeft + v * g.DilationW;
            if (yy < 0 || yy >= oh || xx < 0 || xx >= ow) continue;
            int co = ci / cg * og + o;
            y[((b0 * cout + co) * oh + yy) * ow + xx] += x[((b0 * cin + ci) * h + i) * w + j] * wt[((ci * og + o) * g.KernelH + u) * g.KernelW + v];
        }
        return y;
    }

    private static void Check(int n, int cin, int h, int w, int cout, Size2 k, Size2 s, Padding p, Size2 op, Size2 d, int groups, bool bias, int seed)
    {
        var conv = new ConvTranspose2d(cin, cout, k, s, p, op, d, groups, bias);
        var shape = conv.OutputShape([n, cin, h, w]);
        GradCheck.Run(conv, [n, cin, h, w], (x, ps) => Reference(x, ps[0], bias ? ps[1] : null, n, cin, h, w, cout, conv, shape[2], shape[3]), seed);
    }

    [TestMethod] public void Plain() => Check(2, 3, 4, 5, 2, 3, 1, 0, 0, 1, 1, true, 1);
    [TestMethod] public void StridedPaddedWithOutputPadding() => Check(2, 3, 4, 3, 4, 3, (3, 2), 1, (1, 1), 1, 1, true, 2);
    [TestMethod] public void AsymmetricPaddingRectangularKernel() => Check(1, 2, 5, 4, 3, (2, 3), (2, 1), Padding.Explicit(0, 1, 2, 1), 0, 1, 1, false, 3);
    [TestMethod] public void DilatedWithOutputPaddingBelowDilation() => Check(2, 2, 4, 4, 3, 3, 1, 1, (1, 0), (2, 1), 1, true, 4);
    [TestMethod] public void Grouped() => Check(2, 4, 3, 4, 6, 3, 2, 1, 1, 1, 2, true, 5);

    [TestMethod]
    public void OutputSizeFollowsPyTorch()
    {
        // PyTorch: (in − 1)·s − 2p + d·(k − 1) + output_padding + 1 → (7 − 1)·3 − 2 + 2 + 1 + 1 = 20, (6 − 1)·2 − 2 + 2 + 1 + 1 = 12.
        var conv = new ConvTranspose2d(3, 4, 3, (3, 2), 1, (1, 1));
        CollectionAssert.AreEqual(new[] { 1, 4, 20, 12 }, conv.OutputShape([1, 3, 7, 6]));
        Assert.ThrowsExactly<ArgumentException>(() => new ConvTranspose2d(3, 4, 3, 2, 1, (2, 0)));
    }
}
