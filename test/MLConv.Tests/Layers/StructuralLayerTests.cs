using MLConv.Tests.Reference;
using MLConv.Training.Layers;

namespace MLConv.Tests.Layers;

/// <summary>Padding, instance norm, per-channel affine, global max/mean and pixel shuffle against naive references written from their definitions.</summary>
[TestClass]
public sealed class StructuralLayerTests
{
    /// <summary>y[p, i, j] = x[p, src(i − top), src(j − left)] with src reflecting, clamping or (constant) reading the value.</summary>
    private static double[] NaivePad(double[] x, int planes, int h, int w, int t, int l, int b, int r, PadMode mode, double value)
    {
        int oh = h + t + b, ow = w + l + r;
        var y = new double[planes * oh * ow];
        int Src(int i, int size) => i >= 0 && i < size ? i : mode switch
        {
            PadMode.Reflect => i < 0 ? -i : 2 * size - 2 - i,
            PadMode.Replicate => i < 0 ? 0 : size - 1,
            _ => -1,
        };
        for (int p = 0; p < planes; p++)
        for (int i = 0; i < oh; i++)
        for (int j = 0; j < ow; j++)
        {
            int si = Src(i - t, h), sj = Src(j - l, w);
            y[(p * oh + i) * ow + j] = si < 0 || sj < 0 ? value : x[(p * h + si) * w + sj];
        }
        return y;
    }

    [TestMethod]
    [DataRow(PadMode.Constant, 0.0)]
    [DataRow(PadMode.Constant, 2.5)]
    [DataRow(PadMode.Reflect, 0.0)]
    [DataRow(PadMode.Replicate, 0.0)]
    public void Pad2dMatchesNaive(PadMode mode, double value)
    {
        var pad = new Pad2d(Padding.Explicit(3, 1, 2, 3), mode, (float)value);
        GradCheck.Run(pad, [2, 3, 4, 5], (x, _) => NaivePad(x, 6, 4, 5, 3, 1, 2, 3, mode, value), 31);
    }

    [TestMethod]
    public void ReflectPaddingMustBeSmallerThanTheInput() =>
        Assert.ThrowsExactly<ArgumentException>(() => new Pad2d(Padding.Explicit(0, 4, 0, 0), PadMode.Reflect).OutputShape([1, 1, 5, 4]));

    /// <summary>Per plane: (x − mean)/√(biased var + ε), then γ, β.</summary>
    private static double[] NaiveInstanceNorm(double[] x, int n, int c, int plane, double eps, double[]? gamma, double[]? beta)
    {
        var y = new double[x.Length];
        for (int p = 0; p < n * c; p++)
        {
            var s = x.Skip(p * plane).Take(plane).ToArray();
            double mean = s.Average(), var = s.Select(v => (v - mean) * (v - mean)).Average();
            for (int k = 0; k < plane; k++)
                y[p * plane + k] = (s[k] - mean) / Math.Sqrt(var + eps) * (gamma?[p % c] ?? 1) + (beta?[p % c] ?? 0);
        }
        return y;
    }

    [TestMethod]
    [DataRow(true)]
    [DataRow(false)]
    public void InstanceNorm2dMatchesNaive(bool affine)
    {
        var norm = new InstanceNorm2d(3, 1e-3, affine);
        GradCheck.Run(norm, [2, 3, 4, 5], (x, ps) => NaiveInstanceNorm(x, 2, 3, 20, 1e-3, affine ? ps[0] : null, affine ? ps[1] : null), 32);
        // Inference uses the instance's own statistics too.
        var x = GradCheck.Random([2, 3, 4, 5], new Random(5));
        CollectionAssert.AreEqual(norm.Forward(x, true).Span.ToArray(), norm.Forward(x, false).Span.ToArray());
    }

    [TestMethod]
    [DataRow(4)]
    [DataRow(2)]
    [DataRow(3)]
    public void ChannelAffineMatchesNaive(int rank)
    {
        int[] shape = rank switch { 2 => [3, 5], 3 => [2, 5, 3], _ => [2, 5, 3, 4] };
        int inner = shape.Skip(2).Aggregate(1, (a, d) => a * d);
        GradCheck.Run(new ChannelAffine(5, rank), shape, (x, ps) => [.. x.Select((v, i) => v * ps[0][i / inner % 5] + ps[1][i / inner % 5])], 33);
    }

    [TestMethod]
    public void GlobalMaxPool2dMatchesNaive() =>
        GradCheck.Run(new GlobalMaxPool2d(), [2, 3, 4, 5], (x, _) => [.. Enumerable.Range(0, 6).Select(p => x.Skip(p * 20).Take(20).Max())], 34);

    [TestMethod]
    [DataRow(true)]
    [DataRow(false)]
    public void SpatialMeanMatchesNaive(bool keepDims)
    {
        var mean = new SpatialMean(keepDims);
        CollectionAssert.AreEqual(keepDims ? new[] { 2, 3, 1, 1 } : new[] { 2, 3 }, mean.OutputShape([2, 3, 4, 5]));
        GradCheck.Run(mean, [2, 3, 4, 5], (x, _) => [.. Enumerable.Range(0, 6).Select(p => x.Skip(p * 20).Take(20).Average())], 35);
    }

    [TestMethod]
    public void PixelShuffleMatchesNaive()
    {
        const int n = 2, c = 2, r = 3, h = 2, w = 4;
        GradCheck.Run(new PixelShuffle(r), [n, c * r * r, h, w], (x, _) =>
        {
            var y = new double[x.Length];
            for (int b = 0; b < n; b++)
            for (int ch = 0; ch < c; ch++)
            for (int i = 0; i < h * r; i++)
            for (int j = 0; j < w * r; j++)
                y[((b * c + ch) * h * r + i) * w * r + j] = x[((b * c * r * r + ch * r * r + i % r * r + j % r) * h + i / r) * w + j / r];
            return y;
        }, 36);
    }
}
