using MLConv.Training.Kernels;

namespace MLConv.Tests.Kernels;

[TestClass]
public sealed class Im2ColTests
{
    [TestMethod]
    [DataRow(2, 5, 7, 3, 2, 1, 1, 1, 1, 1, 1)]
    [DataRow(3, 8, 6, 2, 3, 2, 1, 1, 0, 2, 1)]
    [DataRow(1, 9, 11, 3, 3, 2, 3, 2, 2, 1, 2)]
    [DataRow(2, 4, 5, 1, 1, 1, 1, 0, 0, 1, 1)]
    [DataRow(2, 6, 9, 3, 2, 1, 2, 3, 1, 2, 3)]
    public void MatchesNaiveLoopAndCol2ImIsItsAdjoint(int c, int h, int w, int kh, int kw, int sh, int sw, int pt, int pl, int dh, int dw)
    {
        var g = new Window2d(kh, kw, sh, sw, pt, pl, pt + 1, pl, dh, dw);
        var (oh, ow) = g.OutputSize(h, w);
        var r = new Random(c + h + w);
        var x = Enumerable.Range(0, c * h * w).Select(_ => (float)r.NextDouble()).ToArray();
        int ld = oh * ow + 5;
        var cols = new float[c * kh * kw * ld];
        Im2Col.Run(x, c, h, w, g, oh, ow, cols, ld);
        for (int ci = 0; ci < c; ci++)
        for (int u = 0; u < kh; u++)
        for (int v = 0; v < kw; v++)
        for (int i = 0; i < oh; i++)
        for (int j = 0; j < ow; j++)
        {
            int yy = i * sh - pt + u * dh, xx = j * sw - pl + v * dw;
            float expected = yy < 0 || yy >= h || xx < 0 || xx >= w ? 0f : x[(ci * h + yy) * w + xx];
            Assert.AreEqual(expected, cols[((ci * kh + u) * kw + v) * ld + i * ow + j]);
        }

        // Adjoint: <im2col(x), z> = <x, col2im(z)> for any z.
        var z = cols.Select(_ => (float)r.NextDouble()).ToArray();
        var back = new float[x.Length];
        Col2Im.Run(z, ld, c, h, w, g, oh, ow, back);
        double lhs = 0, rhs = 0;
        for (int row = 0; row < c * kh * kw; row++)
            for (int q = 0; q < oh * ow; q++) lhs += (double)cols[row * ld + q] * z[row * ld + q];
        for (int i = 0; i < x.Length; i++) rhs += (double)x[i] * back[i];
        Assert.AreEqual(lhs, rhs, 1e-3 * Math.Abs(lhs));
    }

    [TestMethod]
    public void OutputSizeFormula()
    {
        Assert.AreEqual((31, 31), new Window2d(5, 5, 2, 2, 1, 1, 1, 1).OutputSize(64, 64));
        // Dilated: ⌊(n + 2p − d(k − 1) − 1)/s⌋ + 1.
        Assert.AreEqual(((20 + 2 * 1 - 3 * (3 - 1) - 1) / 2 + 1, 9), new Window2d(3, 3, 2, 2, 1, 1, 1, 1, 3, 1).OutputSize(20, 18 - 1));
    }
}
