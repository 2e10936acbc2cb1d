using MLConv.Tests.Reference;
using MLConv.Training.Losses;
using MLConv.Training.Tensors;

namespace MLConv.Tests.Losses;

[TestClass]
public sealed class SoftmaxCrossEntropyTests
{
    [TestMethod]
    public void LossAndGradientMatchDoubleReference()
    {
        var r = new Random(3);
        int n = 5, k = 7;
        var z = GradCheck.Random([n, k], r);
        for (int i = 0; i < z.Length; i++) z[i] *= 4;
        int[] labels = [.. Enumerable.Range(0, n).Select(_ => r.Next(k))];
        var loss = new SoftmaxCrossEntropy();
        float l = loss.Forward(z, labels);
        var zd = GradCheck.ToDouble(z);
        Assert.AreEqual(Naive.CrossEntropy(zd, n, k, labels), l, 1e-5);
        var g = loss.Backward();
        for (int i = 0; i < zd.Length; i++)
        {
            double old = zd[i], h = 1e-5;
            zd[i] = old + h; double lp = Naive.CrossEntropy(zd, n, k, labels);
            zd[i] = old - h; double lm = Naive.CrossEntropy(zd, n, k, labels);
            zd[i] = old;
            Assert.AreEqual((lp - lm) / (2 * h), g[i], 1e-5);
        }
    }

    [TestMethod]
    public void StableForHugeLogits()
    {
        var z = Tensor.FromArray([1000f, 0f, -1000f, 2000f], 2, 2);
        float l = new SoftmaxCrossEntropy().Forward(z, [0, 0]);
        Assert.IsTrue(float.IsFinite(l));
        Assert.AreEqual(1500f, l, 1e-3);   // (0 + 3000) / 2
    }

    [TestMethod]
    public void LabelOutOfRangeThrows()
    {
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new SoftmaxCrossEntropy().Forward(new Tensor(2, 3), [0, 3]));
        Assert.AreEqual("labels", e.ParamName);
    }
}
