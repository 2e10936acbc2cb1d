using MLConv.Export.Onnx;
using MLConv.Training.Layers;
using MLConv.Training.Tensors;

namespace MLConv.Export.Tests.Onnx;

/// <summary>
/// Conformance of transposed convolution, padding, instance norm, the per-channel affine and pixel shuffle against the ONNX
/// backend suite's PyTorch outputs (../shared/conformance, see its README): import, run MLConv's forward on every stored
/// input, compare each output at the suite's tolerance |out − ref| ≤ atol + rtol·|ref|, rtol 1e-3, atol 1e-7.
/// </summary>
[TestClass]
public sealed class StructuralConformanceTests
{
    private const double Rtol = 1e-3, Atol = 1e-7;

    /// <summary>Imports a case, checks it reads as <paramref name="layers"/> (type names, in order) and matches its stored output.</summary>
    internal static void AssertMatchesReference(string suite, string name, params string[] layers)
    {
        string folder = Path.Combine(ConformanceData.Suite(suite), name);
        if (!Directory.Exists(folder)) Assert.Inconclusive($"The conformance case {name} is not at {folder}.");
        var model = OnnxImporter.Import(Path.Combine(folder, "model.onnx"));
        CollectionAssert.AreEqual(layers, model.Root.Descendants().Skip(1).Select(l => l.TypeName).ToArray(), $"{name}: imported layers");
        var input = OnnxTensors.ReadFile(Path.Combine(folder, "test_data_set_0", "input_0.pb"));
        var expected = OnnxTensors.ReadFile(Path.Combine(folder, "test_data_set_0", "output_0.pb"));
        AssertClose(name, expected, model.Root.Forward(input, training: false));
    }

    internal static void AssertClose(string name, Tensor expected, Tensor actual)
    {
        CollectionAssert.AreEqual(expected.ShapeArray, actual.ShapeArray, $"{name}: output shape");
        for (int i = 0; i < expected.Length; i++)
            // Equal infinities match too: test_operator_addconstant's input is uninitialised doubles, some beyond float's range.
            if (actual[i] != expected[i] && !(Math.Abs((double)actual[i] - expected[i]) <= Atol + Rtol * Math.Abs(expected[i])))
                Assert.Fail($"{name}: element {i} is {actual[i]}, PyTorch gives {expected[i]}.");
    }

    [TestMethod]
    [DataRow("test_ConvTranspose2d", "ConvTranspose2d")]
    [DataRow("test_ZeroPad2d", "Pad2d")]
    [DataRow("test_ConstantPad2d", "Pad2d")]
    [DataRow("test_ReflectionPad2d", "Pad2d")]
    [DataRow("test_ReplicationPad2d", "Pad2d")]
    [DataRow("test_PixelShuffle", "Reshape", "Transpose", "Reshape")]
    public void ConvertedModulesMatchPyTorch(string name, params string[] layers) => AssertMatchesReference("onnx-pytorch-converted", name, layers);

    [TestMethod]
    [DataRow("test_operator_convtranspose", "ConvTranspose2d")]
    [DataRow("test_operator_pad", "Pad2d")]
    [DataRow("test_operator_addconstant", "ChannelAffine")]
    [DataRow("test_operator_symbolic_override", "InstanceNorm2d")]
    public void OperatorsMatchPyTorch(string name, params string[] layers) => AssertMatchesReference("onnx-pytorch-operator", name, layers);

    /// <summary>
    /// The attribute forms of older opsets (Pad's pads and value before 11, ReduceMean's axes before 18) and the input forms
    /// after them: ONNX Runtime agrees with MLConv, and the importer reads the file back into the same layers.
    /// </summary>
    [TestMethod]
    [DataRow(10)]
    [DataRow(13)]
    [DataRow(19)]
    public void PadAndMeanExportAtEveryOpsetAndReadBack(int opset)
    {
        Layer net = new Sequential(new Pad2d(Padding.Explicit(1, 0, 2, 3), PadMode.Constant, -2f), new Pad2d(Padding.Explicit(1, 2, 0, 1), PadMode.Reflect),
            new ConvTranspose2d(3, 4, 3, 2, 1, 1), new InstanceNorm2d(4, affine: true), new Pad2d(1, PadMode.Replicate), new SpatialMean(keepDims: false));
        Fixtures.Randomize(net);
        var x = Fixtures.RandomTensor(new Random(7), [2, 3, 4, 5]);
        using var dir = new TempFolder();
        OnnxExporter.Export(net, [3, 4, 5], dir["m.onnx"], new OnnxExportOptions { Opset = opset });
        var report = OnnxVerifier.Verify(net, dir["m.onnx"], x);
        Assert.IsTrue(report.Passed(1e-4), report.ToString());
        var imported = OnnxImporter.Import(dir["m.onnx"]).Root;
        // A rank-2 output is exported as a classifier's: "probabilities" = Softmax(logits), the output the importer reads.
        CollectionAssert.AreEqual(new[] { "Pad2d", "Pad2d", "ConvTranspose2d", "InstanceNorm2d", "Pad2d", "SpatialMean", "Softmax" },
            imported.Layers.Select(l => l.TypeName).ToArray());
        var want = new Softmax().Forward(net.Forward(x, false), false).Clone();
        var got = imported.Forward(x, false);
        for (int i = 0; i < want.Length; i++) Assert.AreEqual(want[i], got[i], 1e-5f, $"opset {opset}: element {i}");
    }
}
