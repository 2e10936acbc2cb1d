using MLConv.Tests.Reference;
using MLConv.Training.Kernels;

namespace MLConv.Tests.Kernels;

/// <summary>
/// Pool2d on planes wide enough for its 8-wide interior path (strides 1–3, gathers included), against naive loops: values,
/// the selected index (the first strict winner in row-major tap order; a NaN always takes it), and averages.
/// </summary>
[TestClass]
public sealed class Pool2dTests
{
    [TestMethod]
    public void RandomWindowsMatchNaiveLoops()
    {
        var r = new Random(7);
        for (int trial = 0; trial < 40; trial++)
        {
            int kh = r.Next(1, 4), kw = r.Next(1, 4), sh = r.Next(1, 4), sw = r.Next(1, 4), dh = r.Next(1, 3), dw = r.Next(1, 3);
            int pt = r.Next(0, (kh + 1) / 2 + 1), pl = r.Next(0, (kw + 1) / 2 + 1), pb = r.Next(0, 2), pr = r.Next(0, 2);
            int h = r.Next(8, 40), w = r.Next(17, 70), planes = r.Next(1, 4);
            var g = new Window2d(kh, kw, sh, sw, pt, pl, pb, pr, dh, dw);
            var (oh, ow) = g.OutputSize(h, w);
            if (oh <= 0 || ow <= 0) continue;
            // Values on a coarse grid (ties), a few NaNs and infinities.
            var x = new float[planes * h * w];
            for (int i = 0; i < x.Length; i++)
            {
                int k = r.Next(200);
                x[i] = k == 0 ? float.NaN : k == 1 ? float.NegativeInfinity : k == 2 ? float.PositiveInfinity : MathF.Round((float)r.NextDouble() * 8) / 2;
            }
            foreach (var mode in new[] { PoolMode.Max, PoolMode.Min, PoolMode.Average })
            foreach (bool includePad in new[] { true, false })
            {
                var y = new float[planes * oh * ow];
                var args = new int[y.Length];
                Pool2d.Forward(mode, x, planes, h, w, g, includePad, y, oh, ow, args);
                for (int p = 0; p < planes; p++)
                for (int i = 0; i < oh; i++)
                for (int j = 0; j < ow; j++)
                {
                    int o = (p * oh + i) * ow + j;
                    var (value, arg) = Naive(x, p, h, w, g, mode, includePad, i, j);
                    string where = $"{mode} k{kh}x{kw} s{sh}x{sw} d{dh}x{dw} p{pt},{pl},{pb},{pr} {h}x{w} at ({p},{i},{j})";
                    if (mode == PoolMode.Average && float.IsFinite(value)) Assert.AreEqual(value, y[o], 1e-5f + 1e-6f * Math.Abs(value), where);
                    else if (mode == PoolMode.Average) Assert.IsTrue(value.Equals(y[o]), $"{where}: {value} vs {y[o]}");
                    else
                    {
                        Assert.AreEqual(arg, args[o], where);
                        Assert.IsTrue(value.Equals(y[o]), $"{where}: {value} vs {y[o]}");
                    }
                }
            }
        }
    }

    /// <summary>
    /// A window wider than the row, reaching into the end padding only (stride 2): no output is interior, and the
    /// values-only kernel must not read past the row (it once took such an output for an interior one).
    /// </summary>
    [TestMethod]
    public void WindowsWiderThanTheRowStayOnTheEdgePath()
    {
        var g = new Window2d(1, 3, 1, 2, 0, 0, 0, 2);
        var (oh, ow) = g.OutputSize(1, 2);
        float[] x = [1f, 5f], y = new float[oh * ow], values = new float[oh * ow];
        Pool2d.Forward(PoolMode.Max, x, 1, 1, 2, g, true, y, oh, ow, new int[oh * ow]);
        Pool2d.ForwardValues(PoolMode.Max, x, 1, 1, 2, g, values, oh, ow);
        CollectionAssert.AreEqual(new[] { 5f }, y);
        CollectionAssert.AreEqual(y, values);
    }

    /// <summary>The documented rule, one tap at a time in row-major order.</summary>
    private static (float Value, int Arg) Naive(float[] x, int p, int h, int w, in Window2d g, PoolMode mode, bool includePad, int i, int j)
    {
        float acc = 0f;
        int arg = -1, inside = 0, padded = 0;
        for (int u = 0; u < g.KernelH; u++)
        for (int v = 0; v < g.KernelW; v++)
        {
            int yy = i * g.StrideH - g.PadTop + u * g.DilationH, xx = j * g.StrideW - g.PadLeft + v * g.DilationW;
            if (yy < h + g.PadBottom && xx < w + g.PadRight) padded++;
            if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
            int idx = yy * w + xx;
            float val = x[p * h * w + idx];
            inside++;
            if (mode == PoolMode.Average) { acc += val; continue; }
            bool take = arg < 0 || (mode == PoolMode.Max ? val > acc : val < acc) || float.IsNaN(val);
            if (take) { acc = val; arg = idx; }
        }
        if (mode == PoolMode.Average)
        {
            int divisor = includePad ? padded : inside;
            return (divisor > 0 ? acc / divisor : 0f, -1);
        }
        return arg < 0 ? (mode == PoolMode.Max ? float.NegativeInfinity : float.PositiveInfinity, -1) : (acc, arg);
    }
}
