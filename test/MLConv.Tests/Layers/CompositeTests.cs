using MLConv.Tests.Reference;
using MLConv.Training.Layers;
using MLConv.Training.Tensors;

namespace MLConv.Tests.Layers;

[TestClass]
public sealed class CompositeTests
{
    private static double[] ConvRef(double[] x, int n, int c, int h, int w, double[] wt, double[]? b, int cout, Conv2d conv)
    {
        var g = conv.Geometry;
        return Naive.Conv(x, n, c, h, w, wt, b, cout, new Naive.Geo(g.KernelH, g.KernelW, g.StrideH, g.StrideW, g.PadTop, g.PadLeft, g.PadBottom, g.PadRight, g.DilationH, g.DilationW), conv.Groups, out _, out _);
    }

    [TestMethod]
    public void ResidualIdentityGradients()
    {
        var c1 = new Conv2d(3, 3, 3, padding: 1);
        var block = new Residual(new Sequential(c1, new ReLU()));
        GradCheck.Run(block, [2, 3, 5, 6], (x, p) => Naive.Add(Naive.Relu(ConvRef(x, 2, 3, 5, 6, p[0], p[1], 3, c1)), x), 1);
    }

    [TestMethod]
    public void ResidualProjectionGradients()
    {
        var c1 = new Conv2d(2, 4, 3, stride: 2, padding: 1, bias: false);
        var bn1 = new BatchNorm2d(4);
        var sc = new Conv2d(2, 4, 1, stride: 2, bias: false);
        var bn2 = new BatchNorm2d(4);
        var block = new Residual(new Sequential(c1, bn1), new Sequential(sc, bn2));
        GradCheck.Run(block, [3, 2, 6, 7], (x, p) =>
        {
            var body = Naive.BatchNorm(ConvRef(x, 3, 2, 6, 7, p[0], null, 4, c1), 3, 4, 3, 4, p[1], p[2], 1e-5);
            var shortcut = Naive.BatchNorm(ConvRef(x, 3, 2, 6, 7, p[3], null, 4, sc), 3, 4, 3, 4, p[4], p[5], 1e-5);
            return Naive.Add(body, shortcut);
        }, 2);
    }

    [TestMethod]
    public void SequentialGradients()
    {
        var conv = new Conv2d(2, 3, 3, stride: (1, 2), padding: 1, groups: 1);
        var lin = new Linear(3 * 2 * 2, 4);
        var net = new Sequential(conv, new ReLU(), new MaxPool2d(2), new Flatten(), lin);
        GradCheck.Run(net, [3, 2, 5, 8], (x, p) =>
        {
            var a = Naive.Relu(ConvRef(x, 3, 2, 5, 8, p[0], p[1], 3, conv));
            var m = Naive.Pool(a, 3, 3, 5, 4, new Naive.Geo(2, 2, 2, 2), Naive.PoolKind.Max, false, false, out _, out _);
            return Naive.Linear(m, 3, 12, p[2], p[3], 4);
        }, 3);
    }

    [TestMethod]
    public void ShapeErrorsNameTheLayer()
    {
        var net = new Sequential(new Conv2d(1, 4, 3), new Flatten(), new Linear(10, 2));
        var e = Assert.ThrowsExactly<ArgumentException>(() => net.OutputShape([1, 1, 6, 6]));
        StringAssert.Contains(e.Message, "Layer 2");
        StringAssert.Contains(e.Message, "10 input features");
    }

    [TestMethod]
    public void OnlyLayersReadingTheNetworkInputSkipTheirInputGradient()
    {
        var first = new Conv2d(1, 4, 3, padding: 1);
        var inner = new Sequential(first, new ReLU());
        var body = new Conv2d(4, 4, 3, padding: 1);
        var block = new Residual(new Sequential(body));
        var root = new Sequential(inner, block, new Flatten(), new Linear(4 * 6 * 6, 2));
        Assert.IsTrue(first.ComputeInputGradient, "a new network computes every input gradient");

        root.ComputeInputGradient = false;
        Assert.IsFalse(inner.ComputeInputGradient);
        Assert.IsFalse(first.ComputeInputGradient, "the first layer is told through its parents, before backward");
        Assert.IsTrue(root.Layers.Skip(1).All(l => l.ComputeInputGradient));
        Assert.IsTrue(body.ComputeInputGradient, "a residual block sums its paths' input gradients");

        var x = GradCheck.Random([2, 1, 6, 6], new Random(1));
        root.Forward(x, true);
        root.Backward(GradCheck.Random([2, 2], new Random(2)));
        Assert.IsFalse(first.ComputeInputGradient, "backward leaves the flags as they were");

        root.ComputeInputGradient = true;
        Assert.IsTrue(first.ComputeInputGradient);
    }

    [TestMethod]
    public void BackwardBeforeForwardSaysSo()
    {
        Layer[] layers = [new Conv2d(1, 2, 3), new Linear(2, 2), new BatchNorm2d(2), new MaxPool2d(2), new Dropout(), new LocalResponseNorm(3), new ReLU()];
        foreach (var layer in layers)
            StringAssert.Contains(Assert.Throws<InvalidOperationException>(() => layer.Backward(new Tensor(1, 2))).Message, "before Forward", layer.TypeName);
    }
}
