using MLConv.Tests.Reference;
using MLConv.Training.Layers;
using MLConv.Training.Tensors;

namespace MLConv.Tests.Layers;

[TestClass]
public sealed class BatchNorm2dTests
{
    [TestMethod]
    public void TrainingGradients() =>
        GradCheck.Run(new BatchNorm2d(3), [4, 3, 3, 5], (x, p) => Naive.BatchNorm(x, 4, 3, 3, 5, p[0], p[1], 1e-5), 1);

    [TestMethod]
    public void InferenceGradientsUseRunningStatistics()
    {
        var bn = new BatchNorm2d(2, eps: 1e-3);
        float[] mean = [0.3f, -0.2f], var = [1.7f, 0.4f];
        mean.CopyTo(bn.RunningMean.Span);
        var.CopyTo(bn.RunningVar.Span);
        GradCheck.Run(bn, [3, 2, 4, 3], (x, p) => Naive.BatchNorm(x, 3, 2, 4, 3, p[0], p[1], 1e-3, [0.3, -0.2], [1.7, 0.4]), 2, training: false);
    }

    [TestMethod]
    public void RunningStatisticsAreUnbiasedAndMomentumWeighted()
    {
        var bn = new BatchNorm2d(1, momentum: 0.1);
        var x = Tensor.FromArray([1, 2, 3, 6], 2, 1, 1, 2);
        bn.Forward(x, true);
        // mean 3, biased var 3.5, unbiased 14/3.
        Assert.AreEqual(0.9 * 0 + 0.1 * 3, bn.RunningMean[0], 1e-6);
        Assert.AreEqual(0.9 * 1 + 0.1 * 14.0 / 3, bn.RunningVar[0], 1e-6);
        var y = bn.Forward(x, false);
        Assert.AreEqual((1 - 0.3) / Math.Sqrt(0.9 + 0.1 * 14.0 / 3 + 1e-5), y[0], 1e-5);
    }

    [TestMethod]
    public void WrongChannelsThrow()
    {
        var e = Assert.ThrowsExactly<ArgumentException>(() => new BatchNorm2d(3).Forward(new Tensor(2, 4, 2, 2), true));
        StringAssert.Contains(e.Message, "3 channels");
        Assert.AreEqual("x", e.ParamName);
        Assert.AreEqual("x", Assert.ThrowsExactly<ArgumentException>(() => new BatchNorm2d(3).Forward(new Tensor(2, 3), true)).ParamName);
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new BatchNorm2d(3, momentum: 1.5));
    }
}
