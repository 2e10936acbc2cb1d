using MLConv.Export.Onnx;
using MLConv.Training.Layers;
using MLConv.Training.Tensors;

namespace MLConv.Export.Tests.Onnx;

/// <summary>
/// Conformance cases of the ONNX suite (../shared/conformance, see its README) that import to several layers or have
/// several outputs: every graph output of MLConv's forward against PyTorch's output_K.pb at the suite's tolerance,
/// |out − ref| ≤ atol + rtol·|ref| with rtol 1e-3, atol 1e-7. Softmax over one axis: the imported softmax also
/// exports back and matches ONNX Runtime.
/// </summary>
[TestClass]
public sealed class GraphConformanceTests
{
    private const double Rtol = 1e-3, Atol = 1e-7;

    [TestMethod]
    [DataRow("onnx-pytorch-converted", "test_Softmin")]
    [DataRow("onnx-pytorch-converted", "test_log_softmax_dim3")]
    [DataRow("onnx-pytorch-converted", "test_softmax_functional_dim3")]
    public void ForwardMatchesPyTorchReference(string suite, string name)
    {
        string folder = Path.Combine(ConformanceData.Suite(suite), name);
        if (!Directory.Exists(folder)) Assert.Inconclusive($"The conformance case {name} is not at {folder}.");
        var model = OnnxImporter.Import(Path.Combine(folder, "model.onnx"));
        var input = OnnxTensors.ReadFile(Path.Combine(folder, "test_data_set_0", "input_0.pb"));
        AssertMatches(name, OnnxTensors.ReadFile(Path.Combine(folder, "test_data_set_0", "output_0.pb")), model.Root.Forward(input, training: false));
    }

    private static void AssertMatches(string what, Tensor expected, Tensor actual)
    {
        CollectionAssert.AreEqual(expected.ShapeArray, actual.ShapeArray, $"{what}: output shape");
        for (int i = 0; i < expected.Length; i++)
            Assert.IsLessThanOrEqualTo(Atol + Rtol * Math.Abs(expected[i]), Math.Abs((double)actual[i] - expected[i]),
                $"{what}: element {i} is {actual[i]}, PyTorch gives {expected[i]}");
    }

    [TestMethod]
    [DataRow(1, false)]
    [DataRow(2, true)]
    [DataRow(3, false)]
    public void SoftmaxOverOneAxisExportsAndMatchesOnnxRuntime(int axis, bool log)
    {
        var root = new Sequential(new Conv2d(3, 4, 3, padding: 1), new Softmax(log, axis));
        Fixtures.Randomize(root);
        var x = Fixtures.RandomTensor(new Random(6), [2, 3, 5, 6]);
        using var dir = new TempFolder();
        OnnxExporter.Export(root, [3, 5, 6], dir["model.onnx"]);
        var report = OnnxVerifier.Verify(root, dir["model.onnx"], x);
        Assert.IsTrue(report.Passed(1e-5), report.ToString());
        var back = OnnxImporter.Import(dir["model.onnx"]).Root;
        Assert.AreEqual(axis, back.Descendants().OfType<Softmax>().Single().Axis);
        AssertMatches("imported", root.Forward(x, false).Clone(), back.Forward(x, false));
    }
}
