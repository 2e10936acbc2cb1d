using MLConv.Tests.Reference;
using MLConv.Training.Layers;
using MLConv.Training.Tensors;

namespace MLConv.Tests.Layers;

[TestClass]
public sealed class Conv2dTests
{
    private static void Check(int n, int cin, int h, int w, int cout, Size2 k, Size2 s, Padding p, Size2 d, int groups, bool bias, int seed)
    {
        var conv = new Conv2d(cin, cout, k, s, p, d, groups, bias);
        var g = conv.Geometry;
        var geo = new Naive.Geo(g.KernelH, g.KernelW, g.StrideH, g.StrideW, g.PadTop, g.PadLeft, g.PadBottom, g.PadRight, g.DilationH, g.DilationW);
        GradCheck.Run(conv, [n, cin, h, w], (x, ps) => Naive.Conv(x, n, cin, h, w, ps[0], bias ? ps[1] : null, cout, geo, groups, out _, out _), seed);
    }

    [TestMethod] public void Standard() => Check(2, 3, 7, 6, 4, 3, 1, 0, 1, 1, true, 1);
    [TestMethod] public void StridedPaddedRectangular() => Check(3, 2, 9, 7, 3, (3, 2), (2, 3), (1, 2), 1, 1, true, 2);
    [TestMethod] public void AsymmetricPadding() => Check(2, 2, 6, 7, 3, (2, 3), (2, 1), Padding.Explicit(0, 1, 2, 1), 1, 1, true, 3);
    [TestMethod] public void Dilated() => Check(2, 2, 10, 9, 3, 3, (1, 2), 2, (2, 3), 1, true, 4);
    [TestMethod] public void Grouped() => Check(2, 4, 7, 8, 6, 3, 2, 1, 1, 2, true, 5);
    [TestMethod] public void Depthwise() => Check(2, 3, 8, 7, 3, 3, 1, 1, 1, 3, true, 6);
    [TestMethod] public void DepthwiseWithMultiplier() => Check(2, 3, 7, 9, 6, (3, 3), (2, 2), 1, 1, 3, false, 7);
    [TestMethod] public void Pointwise1x1() => Check(3, 5, 4, 6, 4, 1, 1, 0, 1, 1, true, 8);
    [TestMethod] public void SamePaddingEvenKernel() => Check(2, 2, 5, 6, 3, (4, 2), 1, Padding.Same, (1, 2), 1, true, 9);

    /// <summary>Batch 10 exercises the multi-sample gradient groups; both thread settings take different parallel paths.</summary>
    [TestMethod]
    [DataRow(1)]
    [DataRow(16)]
    public void BatchOfTenAnyThreadCount(int threads)
    {
        int saved = MLConv.Training.Kernels.Parallelism.MaxThreads;
        try
        {
            MLConv.Training.Kernels.Parallelism.MaxThreads = threads;
            Check(10, 4, 6, 5, 6, 3, (2, 1), 1, 1, 2, true, 11);
            Check(10, 3, 5, 7, 4, 1, 1, 0, 1, 1, true, 12);
        }
        finally { MLConv.Training.Kernels.Parallelism.MaxThreads = saved; }
    }

    /// <summary>Kg = 288 (two K blocks of the packed GEMM) and Mg = 77 (two row tiles), against the naive loop.</summary>
    [TestMethod]
    public void WideConvolutionMatchesNaiveLoop()
    {
        var conv = new Conv2d(64, 154, 3, padding: 1, groups: 2);
        var r = new Random(21);
        foreach (var p in conv.Parameters) for (int i = 0; i < p.Value.Length; i++) p.Value[i] = (float)(r.NextDouble() * 2 - 1);
        var x = GradCheck.Random([3, 64, 5, 6], r);
        var y = conv.Forward(x, false);
        var g = conv.Geometry;
        var expected = Naive.Conv(GradCheck.ToDouble(x), 3, 64, 5, 6, GradCheck.ToDouble(conv.Weight.Value), GradCheck.ToDouble(conv.Bias!.Value), 154,
            new Naive.Geo(g.KernelH, g.KernelW, g.StrideH, g.StrideW, g.PadTop, g.PadLeft, g.PadBottom, g.PadRight), 2, out _, out _);
        GradCheck.AssertClose(expected, GradCheck.ToDouble(y), 1e-5, "forward");
        // dX of Σ y: each input pixel's gradient is the sum of the weights that touch it (naive scatter).
        var ones = new Tensor(y.ShapeArray); ones.Fill(1f);
        var dx = conv.Backward(ones);
        var ex = new double[x.Length];
        for (int b = 0; b < 3; b++)
        for (int co = 0; co < 154; co++)
        for (int i = 0; i < 5; i++)
        for (int j = 0; j < 6; j++)
        for (int ci = 0; ci < 32; ci++)
        for (int u = 0; u < 3; u++)
        for (int v = 0; v < 3; v++)
        {
            int yy = i - 1 + u, xx = j - 1 + v;
            if (yy < 0 || yy >= 5 || xx < 0 || xx >= 6) continue;
            ex[((b * 64 + co / 77 * 32 + ci) * 5 + yy) * 6 + xx] += conv.Weight.Value[((co * 32 + ci) * 3 + u) * 3 + v];
        }
        GradCheck.AssertClose(ex, GradCheck.ToDouble(dx), 1e-5, "dX");
    }

    [TestMethod]
    public void SamePaddingKeepsSize()
    {
        var conv = new Conv2d(3, 5, (4, 3), padding: Padding.Same, dilation: 2);
        CollectionAssert.AreEqual(new[] { 2, 5, 11, 13 }, conv.OutputShape([2, 3, 11, 13]));
    }

    [TestMethod]
    public void VerticalEdgeKernelOnSeedImage()
    {
        // 5x5 image: left columns 10, right columns 0; kernel [[1,0,-1]]x3 gives 0 on flat regions, 30 on the edge.
        var img = new Tensor(1, 1, 5, 5);
        for (int i = 0; i < 5; i++) for (int j = 0; j < 3; j++) img[0, 0, i, j] = 10;
        var conv = new Conv2d(1, 1, 3, bias: false);
        float[] k = [1, 0, -1, 1, 0, -1, 1, 0, -1];
        k.CopyTo(conv.Weight.Value.Span);
        var y = conv.Forward(img, false);
        CollectionAssert.AreEqual(new[] { 1, 1, 3, 3 }, y.ShapeArray);
        for (int i = 0; i < 3; i++)
        {
            Assert.AreEqual(0f, y[0, 0, i, 0]);
            Assert.AreEqual(30f, y[0, 0, i, 1]);
            Assert.AreEqual(30f, y[0, 0, i, 2]);
        }
    }

    [TestMethod]
    public void SeedExample4x4()
    {
        var img = Tensor.FromArray([.. Enumerable.Range(1, 16).Select(v => (float)v)], 1, 1, 4, 4);
        var conv = new Conv2d(1, 1, 3, bias: false);
        float[] k = [1, 0, -1, 1, 0, -1, 1, 0, -1];
        k.CopyTo(conv.Weight.Value.Span);
        CollectionAssert.AreEqual(new float[] { -6, -6, -6, -6 }, conv.Forward(img, false).Span.ToArray());
    }

    [TestMethod]
    public void ParameterCountAndOutputSize()
    {
        var conv = new Conv2d(3, 64, 3);
        Assert.AreEqual(1792, conv.Parameters.Sum(p => p.Value.Length));
        var c2 = new Conv2d(3, 8, 5, stride: 2, padding: 1);
        CollectionAssert.AreEqual(new[] { 1, 8, 31, 31 }, c2.OutputShape([1, 3, 64, 64]));
        // Dilated: out = ⌊(n + 2p − d(k − 1) − 1)/s⌋ + 1 = ⌊(32 + 0 − 2·2 − 1)/1⌋ + 1 = 28.
        var c3 = new Conv2d(1, 1, 3, dilation: 2);
        CollectionAssert.AreEqual(new[] { 1, 1, 28, 28 }, c3.OutputShape([1, 1, 32, 32]));
    }

    [TestMethod]
    public void BadArgumentsNameTheParameter()
    {
        Assert.AreEqual("groups", Assert.ThrowsExactly<ArgumentException>(() => new Conv2d(4, 6, 3, groups: 3)).ParamName);
        Assert.AreEqual("stride", Assert.ThrowsExactly<ArgumentException>(() => new Conv2d(1, 1, 3, stride: 0)).ParamName);
        Assert.AreEqual("dilation", Assert.ThrowsExactly<ArgumentException>(() => new Conv2d(1, 1, 3, dilation: (1, 0))).ParamName);
        Assert.AreEqual("padding", Assert.ThrowsExactly<ArgumentException>(() => new Conv2d(1, 1, 3, stride: 2, padding: Padding.Same)).ParamName);
        Assert.AreEqual("inChannels", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Conv2d(0, 1, 3)).ParamName);
        var conv = new Conv2d(3, 4, 5);
        var e = Assert.ThrowsExactly<ArgumentException>(() => conv.Forward(new Tensor(1, 3, 4, 9), false));
        StringAssert.Contains(e.Message, "larger than the padded input");
        Assert.AreEqual("x", e.ParamName);
        e = Assert.ThrowsExactly<ArgumentException>(() => conv.Forward(new Tensor(1, 2, 8, 8), false));
        StringAssert.Contains(e.Message, "3 input channels");
        Assert.AreEqual("x", e.ParamName);
        e = Assert.ThrowsExactly<ArgumentException>(() => conv.Forward(new Tensor(3, 8, 8), false));
        StringAssert.Contains(e.Message, "rank-4");
        Assert.AreEqual("x", e.ParamName);
    }
}

[TestClass]
public sealed class PredefinedFilterTests
{
    [TestMethod]
    public void FilterBankRespondsToEdgesAsTheSeedsDescribe()
    {
        // 6x6 image: left half 0, right half 1 (a vertical step edge).
        var img = new Tensor(1, 1, 6, 6);
        for (int i = 0; i < 6; i++) for (int j = 3; j < 6; j++) img[0, 0, i, j] = 1;
        var bank = PredefinedFilters.Bank("vertical", "horizontal", "sobel_x", "sobel_y", "blur", "laplacian");
        var y = bank.Forward(img, false);
        CollectionAssert.AreEqual(new[] { 1, 6, 6, 6 }, y.ShapeArray);
        // Interior row 2, columns 2..3 straddle the edge.
        Assert.AreEqual(-3f, y[0, 0, 2, 2]);   // vertical [1,0,-1]: 0 − 3
        Assert.AreEqual(0f, y[0, 1, 2, 2]);    // horizontal: no horizontal edge
        Assert.AreEqual(4f, y[0, 2, 2, 2]);    // sobel_x: 1 + 2 + 1
        Assert.AreEqual(0f, y[0, 3, 2, 2]);    // sobel_y
        Assert.AreEqual(1f / 3, y[0, 4, 2, 2], 1e-6);   // blur: 3 of 9 ones
        Assert.AreEqual(-3f, y[0, 5, 2, 2]);   // laplacian: −3 neighbours
        Assert.AreEqual(0f, y[0, 2, 2, 0]);    // flat region
        Assert.ThrowsExactly<ArgumentException>(() => PredefinedFilters.Bank("emboss"));
    }
}
