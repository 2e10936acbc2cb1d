using MLConv.Tests.Reference;
using MLConv.Training.Layers;
using MLConv.Training.Tensors;

namespace MLConv.Tests.Layers;

[TestClass]
public sealed class DenseLayerTests
{
    [TestMethod]
    public void LinearGradients() => GradCheck.Run(new Linear(7, 5), [4, 7], (x, p) => Naive.Linear(x, 4, 7, p[0], p[1], 5), 1);

    [TestMethod]
    public void LinearWithoutBiasGradients() => GradCheck.Run(new Linear(6, 3, bias: false), [5, 6], (x, p) => Naive.Linear(x, 5, 6, p[0], null, 3), 2);

    [TestMethod]
    public void ReluGradients() => GradCheck.Run(new ReLU(), [3, 2, 4, 5], (x, _) => Naive.Relu(x), 3);

    [TestMethod]
    public void NegateGradients() => GradCheck.Run(new Negate(), [3, 2, 4, 5], (x, _) => [.. x.Select(v => -v)], 4);

    [TestMethod]
    public void FlattenGradients()
    {
        var f = new Flatten();
        CollectionAssert.AreEqual(new[] { 3, 40 }, f.OutputShape([3, 2, 4, 5]));
        GradCheck.Run(f, [3, 2, 4, 5], (x, _) => x, 4);
    }

    [TestMethod]
    public void DropoutIsInvertedSeededAndRoutesGradientThroughMask()
    {
        var x = new Tensor(4, 2500);
        x.Fill(1f);
        var d = new Dropout(0.3, seed: 7);
        var y = d.Forward(x, true).Clone();
        int kept = y.Span.ToArray().Count(v => v != 0);
        Assert.AreEqual(0.7, kept / 10000.0, 0.02);
        foreach (float v in y.Span) Assert.IsTrue(v == 0f || Math.Abs(v - 1 / 0.7f) < 1e-6);
        var dy = new Tensor(4, 2500);
        dy.Fill(2f);
        var dx = d.Backward(dy);
        for (int i = 0; i < y.Length; i++) Assert.AreEqual(2 * y[i], dx[i], 1e-6);
        var again = new Dropout(0.3, seed: 7).Forward(x, true);
        CollectionAssert.AreEqual(y.Span.ToArray(), again.Span.ToArray());
        CollectionAssert.AreEqual(x.Span.ToArray(), d.Forward(x, false).Span.ToArray());
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Dropout(1.0));
    }

    [TestMethod]
    public void LinearRejectsWrongFeatures()
    {
        var e = Assert.ThrowsExactly<ArgumentException>(() => new Linear(4, 2).Forward(new Tensor(2, 5), false));
        StringAssert.Contains(e.Message, "4 input features");
        Assert.AreEqual("x", e.ParamName);
        Assert.AreEqual("x", Assert.ThrowsExactly<ArgumentException>(() => new Linear(4, 2).Forward(new Tensor(2, 1, 2, 2), false)).ParamName);
    }
}
