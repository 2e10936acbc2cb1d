using MLConv.Training.Data;

namespace MLConv.Tests.Data;

[TestClass]
public sealed class ImagePixelsTests
{
    /// <summary>The tent filter written as one 2-D sum over every source pixel (edge pixels repeated outside), in double.</summary>
    private static double[] NaiveResize(double[] src, int inH, int inW, int outH, int outW)
    {
        double Tent(double d, double support) => Math.Max(0, 1 - Math.Abs(d) / support);
        var dst = new double[outH * outW];
        double sy = (double)inH / outH, sx = (double)inW / outW, supY = Math.Max(1, sy), supX = Math.Max(1, sx);
        for (int oy = 0; oy < outH; oy++)
        for (int ox = 0; ox < outW; ox++)
        {
            double cy = (oy + 0.5) * sy - 0.5, cx = (ox + 0.5) * sx - 0.5, sum = 0, wsum = 0;
            for (int y = (int)Math.Floor(cy - supY) - 1; y <= cy + supY + 1; y++)
            for (int x = (int)Math.Floor(cx - supX) - 1; x <= cx + supX + 1; x++)
            {
                double w = Tent(y - cy, supY) * Tent(x - cx, supX);
                sum += w * src[Math.Clamp(y, 0, inH - 1) * inW + Math.Clamp(x, 0, inW - 1)];
                wsum += w;
            }
            dst[oy * outW + ox] = sum / wsum;
        }
        return dst;
    }

    [TestMethod]
    [DataRow(7, 11, 3, 5)]    // shrink, non-square
    [DataRow(5, 4, 13, 9)]    // enlarge
    [DataRow(6, 10, 9, 4)]    // enlarge one axis, shrink the other
    [DataRow(8, 8, 8, 8)]     // same size: a copy
    public void ResizeMatchesTheNaiveTwoDimensionalSum(int inH, int inW, int outH, int outW)
    {
        var r = new Random(inH * 100 + outW);
        var rgb = new byte[inH * inW * 3];
        r.NextBytes(rgb);
        var dst = new float[3 * outH * outW];
        ImagePixels.ToPlanar(new PngImage(inW, inH, 3, rgb), 3, outH, outW, dst);
        for (int c = 0; c < 3; c++)
        {
            var plane = Enumerable.Range(0, inH * inW).Select(i => rgb[i * 3 + c] / 255.0).ToArray();
            var expected = NaiveResize(plane, inH, inW, outH, outW);
            for (int i = 0; i < expected.Length; i++)
                Assert.AreEqual(expected[i], dst[c * outH * outW + i], 1e-5, $"channel {c}, pixel {i}");
        }
    }

    [TestMethod]
    public void ColourConvertsByLumaAndGrayReplicates()
    {
        var dst = new float[1];
        ImagePixels.ToPlanar(new PngImage(1, 1, 4, [255, 0, 0, 7]), 1, 1, 1, dst);
        Assert.AreEqual(0.299f, dst[0], 1e-6f);
        var rgb = new float[3];
        ImagePixels.ToPlanar(new PngImage(1, 1, 2, [51, 9]), 3, 1, 1, rgb);
        foreach (float v in rgb) Assert.AreEqual(0.2f, v, 1e-6f);
        Assert.AreEqual("destination", Assert.ThrowsExactly<ArgumentException>(() => ImagePixels.ToPlanar(new PngImage(1, 1, 1, [0]), 1, 2, 2, dst)).ParamName);
    }
}
