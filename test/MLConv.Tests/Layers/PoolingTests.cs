using MLConv.Tests.Reference;
using MLConv.Training.Layers;
using MLConv.Training.Tensors;

namespace MLConv.Tests.Layers;

[TestClass]
public sealed class PoolingTests
{
    private static void Check(Pool2dLayer layer, Naive.PoolKind kind, int n, int c, int h, int w, int seed)
    {
        var g = layer.Geometry;
        var geo = new Naive.Geo(g.KernelH, g.KernelW, g.StrideH, g.StrideW, g.PadTop, g.PadLeft, g.PadBottom, g.PadRight, g.DilationH, g.DilationW);
        GradCheck.Run(layer, [n, c, h, w], (x, ps) => Naive.Pool(x, n, c, h, w, geo, kind, layer.CeilMode, layer.CountIncludePad, out _, out _), seed);
    }

    [TestMethod] public void MaxPlain() => Check(new MaxPool2d(2), Naive.PoolKind.Max, 2, 3, 6, 8, 1);
    [TestMethod] public void MaxStridePaddingDilationRect() => Check(new MaxPool2d((3, 2), (2, 1), (1, 1), (2, 1)), Naive.PoolKind.Max, 2, 2, 9, 7, 2);
    [TestMethod] public void MaxCeilMode() => Check(new MaxPool2d(3, 2, 1, ceilMode: true), Naive.PoolKind.Max, 2, 2, 8, 7, 3);
    [TestMethod] public void MinDilatedPadded() => Check(new MinPool2d(3, 2, 1, 2), Naive.PoolKind.Min, 2, 3, 9, 10, 4);
    [TestMethod] public void MinCeilMode() => Check(new MinPool2d((2, 3), (2, 2), 0, ceilMode: true), Naive.PoolKind.Min, 3, 2, 7, 8, 5);
    [TestMethod] public void AvgCountIncludePad() => Check(new AvgPool2d(3, 2, 1), Naive.PoolKind.Avg, 2, 3, 7, 8, 6);
    [TestMethod] public void AvgExcludePad() => Check(new AvgPool2d((3, 2), (2, 1), (1, 1), countIncludePad: false), Naive.PoolKind.Avg, 2, 2, 7, 6, 7);
    [TestMethod] public void AvgCeilModeIncludePad() => Check(new AvgPool2d(3, 2, 1, ceilMode: true), Naive.PoolKind.Avg, 2, 2, 8, 9, 8);
    [TestMethod] public void AvgCeilModeExcludePad() => Check(new AvgPool2d(2, 2, 1, ceilMode: true, countIncludePad: false), Naive.PoolKind.Avg, 2, 2, 7, 6, 9);

    [TestMethod]
    public void GlobalAverage()
    {
        GradCheck.Run(new GlobalAvgPool2d(), [3, 4, 5, 6], (x, _) => Naive.GlobalAvg(x, 12, 30), 10);
    }

    [TestMethod]
    public void SeedExampleMaxAndAverage()
    {
        var x = Tensor.FromArray([1, 2, 5, 6, 3, 4, 7, 8, 9, 10, 13, 14, 11, 12, 15, 16], 1, 1, 4, 4);
        CollectionAssert.AreEqual(new float[] { 4, 8, 12, 16 }, new MaxPool2d(2).Forward(x, false).Span.ToArray());
        CollectionAssert.AreEqual(new float[] { 2.5f, 6.5f, 10.5f, 14.5f }, new AvgPool2d(2).Forward(x, false).Span.ToArray());
        CollectionAssert.AreEqual(new float[] { 1, 5, 9, 13 }, new MinPool2d(2).Forward(x, false).Span.ToArray());
    }

    [TestMethod]
    public void TiesRouteGradientToFirstElement()
    {
        var x = Tensor.FromArray([3, 3, 3, 3], 1, 1, 2, 2);
        var max = new MaxPool2d(2);
        max.Forward(x, true);
        CollectionAssert.AreEqual(new float[] { 1, 0, 0, 0 }, max.Backward(Tensor.FromArray([1f], 1, 1, 1, 1)).Span.ToArray());
        var min = new MinPool2d(2);
        min.Forward(x, true);
        CollectionAssert.AreEqual(new float[] { 1, 0, 0, 0 }, min.Backward(Tensor.FromArray([1f], 1, 1, 1, 1)).Span.ToArray());
    }

    [TestMethod]
    public void CeilModeDropsWindowStartingInEndPadding()
    {
        // PyTorch: MaxPool2d(2, 2, padding=1, ceil_mode=True) on 4x4 -> 3x3 (not 4x4).
        CollectionAssert.AreEqual(new[] { 1, 1, 3, 3 }, new MaxPool2d(2, 2, 1, ceilMode: true).OutputShape([1, 1, 4, 4]));
        CollectionAssert.AreEqual(new[] { 1, 1, 3, 3 }, new MaxPool2d(2, 2, 0, ceilMode: true).OutputShape([1, 1, 5, 5]));
    }

    [TestMethod]
    public void NaNPropagatesAndTakesTheGradient()
    {
        var x = Tensor.FromArray([1, float.NaN, 3, 2], 1, 1, 2, 2);
        foreach (Pool2dLayer pool in new Pool2dLayer[] { new MaxPool2d(2), new MinPool2d(2) })
        {
            Assert.IsTrue(float.IsNaN(pool.Forward(x, true)[0]), pool.ToString());
            CollectionAssert.AreEqual(new float[] { 0, 5, 0, 0 }, pool.Backward(Tensor.FromArray([5f], 1, 1, 1, 1)).Span.ToArray(), pool.ToString());
        }
    }

    [TestMethod]
    public void WindowEntirelyInPaddingGivesInfinityAndNoGradient()
    {
        // Width 2, kernel 2, dilation 3, padding 1: the taps sit at −1 and 2, both outside (PyTorch gives −inf).
        var x = Tensor.FromArray([1, 2, 3, 4], 1, 1, 2, 2);
        var max = new MaxPool2d(2, 1, 1, 3);
        var y = max.Forward(x, true);
        CollectionAssert.AreEqual(new[] { 1, 1, 1, 1 }, y.ShapeArray);
        Assert.AreEqual(float.NegativeInfinity, y[0]);
        CollectionAssert.AreEqual(new float[4], max.Backward(Tensor.FromArray([1f], 1, 1, 1, 1)).Span.ToArray());
        Assert.AreEqual(float.PositiveInfinity, new MinPool2d(2, 1, 1, 3).Forward(x, false)[0]);
    }

    [TestMethod]
    public void BadArguments()
    {
        Assert.AreEqual("padding", Assert.ThrowsExactly<ArgumentException>(() => new MaxPool2d(2, 2, 2)).ParamName);
        Assert.AreEqual("stride", Assert.ThrowsExactly<ArgumentException>(() => new AvgPool2d(2, 0)).ParamName);
        Assert.AreEqual("dilation", Assert.ThrowsExactly<ArgumentException>(() => new MaxPool2d(2, 2, 0, 0)).ParamName);
        Assert.AreEqual("x", Assert.ThrowsExactly<ArgumentException>(() => new MaxPool2d(5).Forward(new Tensor(1, 1, 4, 4), false)).ParamName);
        Assert.AreEqual("x", Assert.ThrowsExactly<ArgumentException>(() => new AvgPool2d(2).Forward(new Tensor(4, 4), false)).ParamName);
    }
}
