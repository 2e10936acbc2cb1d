using MLConv.Tests.Reference;
using MLConv.Training.Layers;

namespace MLConv.Tests.Layers;

[TestClass]
public sealed class LocalResponseNormTests
{
    /// <summary>α = 1 makes the cross-channel term of the gradient as large as the direct one.</summary>
    [TestMethod]
    [DataRow(3, 6, DisplayName = "odd window")]
    [DataRow(4, 6, DisplayName = "even window: the odd cell after c, as ONNX")]
    [DataRow(9, 4, DisplayName = "window wider than the channels")]
    [DataRow(1, 5, DisplayName = "size 1")]
    public void Gradients(int size, int channels)
    {
        var lrn = new LocalResponseNorm(size, alpha: 1, beta: 0.75, k: 2);
        GradCheck.Run(lrn, [3, channels, 4, 5], (x, _) => Naive.Lrn(x, 3, channels, 20, size, 1, 0.75, 2), seed: 31 + size);
    }

    [TestMethod]
    public void GradientsOnFeatureVectors()
    {
        var lrn = new LocalResponseNorm(5, alpha: 0.5, beta: 1.3, k: 1);
        GradCheck.Run(lrn, [4, 7], (x, _) => Naive.Lrn(x, 4, 7, 1, 5, 0.5, 1.3, 1), seed: 37);
    }

    [TestMethod]
    public void ArgumentsAreValidated()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new LocalResponseNorm(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LocalResponseNorm(3, alpha: double.NaN));
        StringAssert.Contains(Assert.Throws<ArgumentException>(() => new LocalResponseNorm(3).OutputShape([5])).Message, "rank >= 2");
    }
}
