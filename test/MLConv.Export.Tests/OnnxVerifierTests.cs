using MLConv.Training.Layers;
using MLConv.Training.Models;
using MLConv.Training.Tensors;

namespace MLConv.Export.Tests;

[TestClass]
public sealed class OnnxVerifierTests
{
    private static Network Net(int seed) =>
        new(Fixtures.Randomize(new Sequential(new Conv2d(2, 3, 3, padding: 1), new ReLU(), new GlobalAvgPool2d(), new Flatten(), new Linear(3, 4)), seed), 2, 6, 5);

    [TestMethod]
    public void ReportsCpuAndExplainsAMissingCudaProvider()
    {
        var net = Net(1);
        using var dir = new TempFolder();
        OnnxExporter.Export(net, dir["m.onnx"]);
        var report = OnnxVerifier.Verify(net, dir["m.onnx"], Fixtures.RandomTensor(new Random(3), [5, 2, 6, 5]));
        Assert.AreEqual(OnnxVerifier.Cpu, report.ProvidersTried[0]);
        Assert.IsTrue(report.Passed(), report.ToString());
        if (!Microsoft.ML.OnnxRuntime.OrtEnv.Instance().GetAvailableProviders().Contains(OnnxVerifier.Cuda))
        {
            StringAssert.StartsWith(report.ProvidersUnavailable[OnnxVerifier.Cuda], "CUDA unavailable");
            CollectionAssert.DoesNotContain(report.ProvidersTried.ToList(), OnnxVerifier.Cuda);
        }
        else
            Assert.IsTrue(report.ProvidersTried.Contains(OnnxVerifier.Cuda) || report.ProvidersUnavailable.ContainsKey(OnnxVerifier.Cuda));

        string table = report.ToString();
        StringAssert.Contains(table, "max rel err");
        StringAssert.Contains(table, "logits");
        StringAssert.Contains(table, "probabilities");
        StringAssert.Contains(table, "5/5");
        foreach (var c in report.Comparisons)
        {
            Assert.AreEqual(5, c.Samples);
            Assert.IsLessThanOrEqualTo(1e-4, c.MaxRelativeError);
            Assert.IsGreaterThan(0.0, c.ReferenceScale);
        }
    }

    [TestMethod]
    public void DifferentWeightsFail()
    {
        using var dir = new TempFolder();
        OnnxExporter.Export(Net(1), dir["m.onnx"]);
        var report = OnnxVerifier.Verify(Net(2), dir["m.onnx"], Fixtures.RandomTensor(new Random(3), [4, 2, 6, 5]));
        Assert.IsFalse(report.Passed(), report.ToString());
        Assert.IsGreaterThan(1e-2, report.Comparisons.First(c => c.Output == "logits").MaxRelativeError);
    }

    [TestMethod]
    public void ComparisonFlagsNaNAndShapeMismatch()
    {
        var expected = Tensor.FromArray([1f, 2f, -4f, 0f], 2, 2);
        var nan = OnnxVerifier.Compare("p", "logits", expected, [2, 2], [1f, float.NaN, -4f, 0f]);
        Assert.AreEqual(double.PositiveInfinity, nan.MaxAbsoluteError);
        var close = OnnxVerifier.Compare("p", "logits", expected, [2, 2], [1f, 2f, -4.002f, 0f]);
        Assert.AreEqual(4.0, close.ReferenceScale);
        Assert.AreEqual(0.002 / 4, close.MaxRelativeError, 1e-6);
        Assert.AreEqual(2, close.ArgmaxAgreements);
        var wrongShape = OnnxVerifier.Compare("p", "logits", expected, [4], [1f, 2f, -4f, 0f]);
        Assert.IsFalse(wrongShape.ShapesMatch);
    }

    [TestMethod]
    public void ArgumentsAreCheckedAtTheDoor()
    {
        var net = Net(1);
        Assert.ThrowsExactly<FileNotFoundException>(() => OnnxVerifier.Verify(net, "/nonexistent/m.onnx", new Tensor(1, 2, 6, 5)));
        Assert.ThrowsExactly<ArgumentException>(() => OnnxVerifier.Verify(net, "/nonexistent/m.onnx", new Tensor(1, 3, 6, 5)));
    }
}
