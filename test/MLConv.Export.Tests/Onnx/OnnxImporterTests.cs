using Onnx;
using MLConv.Export.Onnx;
using MLConv.Training.Layers;
using MLConv.Training.Models;
using MLConv.Training.Tensors;

namespace MLConv.Export.Tests.Onnx;

/// <summary>
/// Conformance against the ONNX backend suite's PyTorch-converted single-module models
/// (../shared/conformance/onnx-pytorch-converted, see its README): import each model into MLConv
/// layers, run MLConv's own forward on input_0.pb and compare with PyTorch's output_0.pb at the
/// suite's tolerance, |out − ref| ≤ atol + rtol·|ref| with rtol 1e-3, atol 1e-7.
/// </summary>
[TestClass]
public sealed class OnnxImporterTests
{
    private const double Rtol = 1e-3, Atol = 1e-7;

    private static string CaseFolder(string name)
    {
        string folder = Path.Combine(ConformanceData.Suite("onnx-pytorch-converted"), name);
        if (!Directory.Exists(folder)) Assert.Inconclusive($"The conformance case {name} is not at {folder}.");
        return folder;
    }

    [TestMethod]
    [DataRow("test_Conv2d", typeof(Conv2d))]
    [DataRow("test_Conv2d_no_bias", typeof(Conv2d))]
    [DataRow("test_Conv2d_padding", typeof(Conv2d))]
    [DataRow("test_Conv2d_strided", typeof(Conv2d))]
    [DataRow("test_Conv2d_dilated", typeof(Conv2d))]
    [DataRow("test_Conv2d_groups", typeof(Conv2d))]
    [DataRow("test_Conv2d_depthwise", typeof(Conv2d))]
    [DataRow("test_Conv2d_depthwise_padded", typeof(Conv2d))]
    [DataRow("test_Conv2d_depthwise_with_multiplier", typeof(Conv2d))]
    [DataRow("test_MaxPool2d", typeof(MaxPool2d))]
    [DataRow("test_MaxPool2d_stride_padding_dilation", typeof(MaxPool2d))]
    [DataRow("test_AvgPool2d", typeof(AvgPool2d))]
    [DataRow("test_AvgPool2d_stride", typeof(AvgPool2d))]
    [DataRow("test_BatchNorm2d_eval", typeof(BatchNorm2d))]
    [DataRow("test_Linear", typeof(Linear))]
    [DataRow("test_Linear_no_bias", typeof(Linear))]
    [DataRow("test_ReLU", typeof(ReLU))]
    [DataRow("test_LeakyReLU", typeof(LeakyReLU))]
    [DataRow("test_PReLU_2d", typeof(PReLU))]
    [DataRow("test_ELU", typeof(ELU))]
    [DataRow("test_SELU", typeof(SELU))]
    [DataRow("test_Sigmoid", typeof(Sigmoid))]
    [DataRow("test_Tanh", typeof(Tanh))]
    [DataRow("test_Softplus", typeof(Softplus))]
    [DataRow("test_Softmax", typeof(Softmax))]
    [DataRow("test_LogSoftmax", typeof(Softmax))]
    [DataRow("test_log_softmax_dim3", typeof(Softmax))]
    [DataRow("test_softmax_functional_dim3", typeof(Softmax))]
    public void ForwardMatchesPyTorchReference(string name, Type layerType)
    {
        string folder = CaseFolder(name);
        var model = OnnxImporter.Import(Path.Combine(folder, "model.onnx"));
        Assert.AreEqual(layerType, model.Root.Layers.Single().GetType(), $"{name} imports as one {layerType.Name}");
        AssertMatchesReference(name, folder, model);
    }

    /// <summary>Cases PyTorch wrote as several nodes, or that import as several layers: the layer types read, in order.</summary>
    [TestMethod]
    [DataRow("onnx-pytorch-converted", "test_Softmin", "Negate,Softmax")]
    [DataRow("onnx-pytorch-operator", "test_operator_clip", "Clip")]
    public void ForwardMatchesPyTorchReferenceAsLayers(string suite, string name, string layers)
    {
        string folder = Path.Combine(ConformanceData.Suite(suite), name);
        if (!Directory.Exists(folder)) Assert.Inconclusive($"The conformance case {name} is not at {folder}.");
        var model = OnnxImporter.Import(Path.Combine(folder, "model.onnx"));
        Assert.AreEqual(layers, string.Join(",", model.Root.Descendants().Skip(1).Where(l => l is not Sequential).Select(l => l.TypeName)), name);
        AssertMatchesReference(name, folder, model);
    }

    /// <summary>Cases not read yet, with the reason; every other case of both suites must import and match PyTorch. None are left.</summary>
    private static readonly Dictionary<string, string> KnownGaps = new(StringComparer.Ordinal);

    [TestMethod]
    public void EveryConformanceCaseMatchesPyTorchOrIsAKnownGap()
    {
        var results = new List<string>();
        var unexpected = new List<string>();
        foreach (var suite in new[] { "onnx-pytorch-converted", "onnx-pytorch-operator" })
        {
            string root = ConformanceData.Suite(suite);
            if (!Directory.Exists(root)) Assert.Inconclusive($"No conformance data at {root}.");
            foreach (var folder in Directory.GetDirectories(root).Order(StringComparer.Ordinal))
            {
                string name = Path.GetFileName(folder);
                string outcome;
                try
                {
                    var model = OnnxImporter.Import(Path.Combine(folder, "model.onnx"));
                    AssertMatchesReference(name, folder, model);
                    outcome = "matches: " + string.Join(", ", model.Root.Descendants().Skip(1).Where(l => l is not Sequential and not Graph).Select(l => l.TypeName).Distinct());
                    if (KnownGaps.ContainsKey(name) && !KnownGaps[name].StartsWith("checked by", StringComparison.Ordinal)) unexpected.Add($"{name} now imports: remove it from KnownGaps");
                }
                catch (Exception e) when (e is NotSupportedException or AssertFailedException)
                {
                    outcome = "refused: " + e.Message.Split('\n')[0];
                    if (!KnownGaps.ContainsKey(name)) unexpected.Add($"{name}: {outcome}");
                }
                results.Add($"{suite}/{name}: {outcome}");
            }
        }
        Console.WriteLine(string.Join(Environment.NewLine, results));
        Assert.IsEmpty(unexpected, string.Join(Environment.NewLine, unexpected));
    }

    /// <summary>Every stored output (output_0.pb, output_1.pb, …) against the model's outputs in order; equal values (infinities too) match.</summary>
    private static void AssertMatchesReference(string name, string folder, OnnxImportedModel model)
    {
        var input = OnnxTensors.ReadFile(Path.Combine(folder, "test_data_set_0", "input_0.pb"));
        var outputs = model.ForwardAll(input, training: false);
        int stored = Directory.GetFiles(Path.Combine(folder, "test_data_set_0"), "output_*.pb").Length;
        Assert.AreEqual(stored, outputs.Count, $"{name}: outputs read");
        for (int k = 0; k < stored; k++)
        {
            var expected = OnnxTensors.ReadFile(Path.Combine(folder, "test_data_set_0", $"output_{k}.pb"));
            var actual = outputs[k];
            CollectionAssert.AreEqual(expected.ShapeArray, actual.ShapeArray, $"{name}: output {k} shape");
            var e = expected.Span;
            var a = actual.Span;
            double worst = 0;
            int worstAt = -1;
            for (int i = 0; i < e.Length; i++)
            {
                if (a[i] == e[i]) continue;
                double excess = Math.Abs((double)a[i] - e[i]) - (Atol + Rtol * Math.Abs(e[i]));
                if (!(excess <= worst)) { worst = excess; worstAt = i; }
            }
            Assert.IsLessThan(0, worstAt, $"{name}: output {k} element {worstAt} is {(worstAt < 0 ? 0 : a[worstAt])}, PyTorch gives {(worstAt < 0 ? 0 : e[worstAt])}");
        }
    }

    [TestMethod]
    [DataRow("test_Conv2d_dilated")]
    [DataRow("test_Conv2d_depthwise_with_multiplier")]
    [DataRow("test_MaxPool2d")]
    [DataRow("test_BatchNorm2d_eval")]
    public void ImportedLayersExportBackAndMatchOnnxRuntime(string name)
    {
        string folder = CaseFolder(name);
        var model = OnnxImporter.Import(Path.Combine(folder, "model.onnx"));
        var input = OnnxTensors.ReadFile(Path.Combine(folder, "test_data_set_0", "input_0.pb"));
        using var dir = new TempFolder();
        OnnxExporter.Export(model.Root, [input.C, input.H, input.W], dir["again.onnx"]);
        var report = OnnxVerifier.Verify(model.Root, dir["again.onnx"], input);
        Assert.IsTrue(report.Passed(1e-4), report.ToString());
    }

    /// <summary>A Pad the importer has no layer for (wrap mode, cropping, padding the channels) is refused naming its operator.</summary>
    [TestMethod]
    [DataRow("wrap", new long[] { 0, 0, 1, 1, 0, 0, 1, 1 })]
    [DataRow("constant", new long[] { 0, 0, -1, 0, 0, 0, 1, 0 })]
    [DataRow("reflect", new long[] { 0, 1, 0, 0, 0, 0, 0, 0 })]
    public void OperatorsWithoutALayerAreRefusedByName(string mode, long[] pads)
    {
        var g = new GraphProto();
        g.Input.Add(OnnxGraphBuilder.FloatValue("x", "N", null, 2, 3, 3));
        g.Output.Add(OnnxGraphBuilder.FloatValue("y", "N", null, 3, 4, 5));
        g.Initializer.Add(new TensorProto { Name = "pads", DataType = (int)TensorProto.Types.DataType.Int64, Dims = { 8 }, Int64Data = { pads } });
        g.Node.Add(new NodeProto
        {
            Name = "pad", OpType = "Pad", Input = { "x", "pads" }, Output = { "y" },
            Attribute = { new AttributeProto { Name = "mode", Type = AttributeProto.Types.AttributeType.String, S = Google.Protobuf.ByteString.CopyFromUtf8(mode) } },
        });
        var model = new ModelProto { IrVersion = 8, Graph = g };
        model.OpsetImport.Add(new OperatorSetIdProto { Version = 19 });
        var e = Assert.ThrowsExactly<NotSupportedException>(() => OnnxImporter.Import(model));
        StringAssert.Contains(e.Message, "Pad");
    }

    [TestMethod]
    public void ExportedModelsImportBack()
    {
        var root = Fixtures.Randomize(new Sequential(new Conv2d(2, 3, (3, 2), stride: 2, padding: Padding.Explicit(1, 0, 0, 1)), new BatchNorm2d(3),
            new ReLU(), new MaxPool2d(2, padding: 1, ceilMode: true), new Dropout(), new Flatten(), new Linear(3 * 3 * 4, 4)));
        var model = OnnxImporter.Import(ModelProto.Parser.ParseFrom(OnnxExporter.ExportToBytes(root, [2, 9, 13])));
        CollectionAssert.AreEqual(new[] { -1, 2, 9, 13 }, model.InputShape);
        Assert.AreEqual(19L, model.Opset);
        Assert.AreEqual("probabilities", model.OutputName);
        CollectionAssert.AreEqual(
            new[] { "Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d", "Flatten", "Linear", "Softmax" },
            model.Root.Layers.Select(l => l.TypeName).ToArray());
        var x = Fixtures.RandomTensor(new Random(4), [3, 2, 9, 13]);
        var want = Rows.Softmax(root.Forward(x, false));
        var got = model.Root.Forward(x, false);
        for (int i = 0; i < want.Length; i++) Assert.AreEqual(want[i], got[i], 1e-6f);
    }

    /// <summary>Residual blocks export as Add of two branches: they import back as one Graph (Add → Sum).</summary>
    [TestMethod]
    public void ExportedResidualNetworksImportAsAGraph()
    {
        var net = Architectures.MobileNetV2(3, 12, 10, 5, seed: 3);
        Fixtures.Randomize(net.Root);
        var model = OnnxImporter.Import(OnnxExporter.ToModel(net));
        var graph = (Graph)model.Root.Layers.Single();
        Assert.IsTrue(graph.Nodes.Any(n => n.Layer is Sum), "the residual Adds");
        Assert.IsFalse(graph.Nodes[0].Layer is Reshape);
        var x = Fixtures.RandomTensor(new Random(4), [3, 3, 12, 10]);
        var want = Rows.Softmax(net.Forward(x, false));
        var got = model.Root.Forward(x, false);
        for (int i = 0; i < want.Length; i++) Assert.AreEqual(want[i], got[i], 1e-5f);
    }

    [TestMethod]
    public void UnsupportedNodesInAGraphAreRefusedByNameAndOperator()
    {
        var g = new GraphProto();
        g.Input.Add(OnnxGraphBuilder.FloatValue("x", "N", null, 2, 3, 3));
        g.Output.Add(OnnxGraphBuilder.FloatValue("y", "N", null, 2, 3, 3));
        g.Node.Add(new NodeProto { Name = "left", OpType = "Relu", Input = { "x" }, Output = { "a" } });
        g.Node.Add(new NodeProto { Name = "mystery", OpType = "Einsum", Input = { "a", "x" }, Output = { "y" } });
        var model = new ModelProto { IrVersion = 8, Graph = g };
        model.OpsetImport.Add(new OperatorSetIdProto { Version = 13 });
        var e = Assert.ThrowsExactly<NotSupportedException>(() => OnnxImporter.Import(model));
        StringAssert.Contains(e.Message, "'mystery'");
        StringAssert.Contains(e.Message, "Einsum");
    }
}
