using MLConv.Tests.Reference;
using MLConv.Training.Layers;
using MLConv.Training.Tensors;

namespace MLConv.Tests.Layers;

[TestClass]
public sealed class SoftmaxTests
{
    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void Gradients(bool log) => GradCheck.Run(new Softmax(log), [4, 7], (x, _) => Naive.Softmax(x, 4, 7, log), log ? 2 : 1);

    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void StableForLargeLogits(bool log)
    {
        var x = Tensor.FromArray([500f, 0f, -3f, 1f, 2f, 3f], 2, 3);
        var y = new Softmax(log).Forward(x, false);
        for (int i = 0; i < 2; i++)
        {
            double sum = 0;
            for (int j = 0; j < 3; j++) sum += log ? Math.Exp(y[i * 3 + j]) : y[i * 3 + j];
            Assert.AreEqual(1.0, sum, 1e-5);
        }
        Assert.IsTrue(y.Span.ToArray().All(float.IsFinite));
    }

    [TestMethod]
    public void RejectsRank4()
    {
        var e = Assert.ThrowsExactly<ArgumentException>(() => new Softmax().Forward(new Tensor(1, 2, 2, 2), false));
        Assert.AreEqual("x", e.ParamName);
    }
}
