using Google.Protobuf;
using Onnx;
using MLConv.Export.Onnx;
using MLConv.Training.Layers;
using MLConv.Training.Tensors;

namespace MLConv.Export.Tests.Onnx;

/// <summary>Split and graphs of several outputs through ONNX: every output written, checked by ONNX Runtime and read back.</summary>
[TestClass]
public sealed class SplitExportTests
{
    /// <summary>x split into 2, 1, 2 channels; outputs y = x₀ · σ(x₂), x₁ and σ(x₂).</summary>
    private static Graph Gated() => new("x",
    [
        new GraphNode("split", new Split(1, 2, 1, 2), ["x"], ["a", "b", "c"]),
        new GraphNode("gate", new Sigmoid(), ["c"], "g"),
        new GraphNode("mul", new Elementwise(ElementwiseOp.Mul), ["a", "g"], "y"),
    ], ["y", "b", "g"]);

    /// <summary>The split sizes are an attribute below opset 13 and an input from 13 (also at 18, beside num_outputs); ORT checks every output.</summary>
    [TestMethod]
    [DataRow(11, false)]
    [DataRow(13, true)]
    [DataRow(18, true)]
    public void EveryOutputIsWrittenCheckedAndReadBack(int opset, bool splitAsInput)
    {
        var graph = Gated();
        var x = Fixtures.RandomTensor(new Random(2), [3, 5, 4, 3]);
        var model = OnnxExporter.ToModel(graph, [5, 4, 3], new OnnxExportOptions { Opset = opset });
        CollectionAssert.AreEqual(new[] { "logits", "b", "g" }, model.Graph.Output.Select(o => o.Name).ToArray());
        var split = model.Graph.Node.Single(n => n.OpType == "Split");
        Assert.HasCount(3, split.Output);
        Assert.AreEqual(splitAsInput, split.Input.Count == 2);
        Assert.AreEqual(!splitAsInput, split.Attribute.Any(a => a.Name == "split"));

        using var dir = new TempFolder();
        File.WriteAllBytes(dir["m.onnx"], model.ToByteArray());
        var report = OnnxVerifier.Verify(graph, dir["m.onnx"], x);
        Assert.IsTrue(report.Passed(1e-4), report.ToString());
        CollectionAssert.AreEquivalent(new[] { "logits", "b", "g" }, report.Comparisons.Select(c => c.Output).ToArray());

        var imported = OnnxImporter.Import(dir["m.onnx"]);
        CollectionAssert.AreEqual(new[] { "logits", "b", "g" }, imported.OutputNames.ToArray());
        var want = graph.ForwardAll(x, false).Select(t => t.Clone()).ToList();
        var got = imported.ForwardAll(x);
        Assert.HasCount(3, got);
        for (int k = 0; k < 3; k++) CollectionAssert.AreEqual(want[k].Span.ToArray(), got[k].Span.ToArray(), $"output {k}");
    }

    /// <summary>A graph output that is also read by a node, or is the graph's first output twice over, still gets its own ONNX value.</summary>
    [TestMethod]
    public void OutputsThatAreReadOnOrRepeatAValueStayApart()
    {
        var graph = new Graph("x",
        [
            new GraphNode("split", new Split(1, 1, 2), ["x"], ["a", "b"]),
            new GraphNode("relu", new ReLU(), ["b"], "r"),
            new GraphNode("sum", new Sum(), ["r", "b"], "y"),
        ], ["y", "b", "a"]);
        Fixtures.AssertMatchesOrt(graph, [3, 2, 4]);
    }

    private static ModelProto OneSplit(int opset, int channels, int outputs, params AttributeProto[] attributes)
    {
        var g = new GraphProto();
        g.Input.Add(OnnxGraphBuilder.FloatValue("x", "N", null, channels, 2, 2));
        var node = new NodeProto { Name = "split", OpType = "Split", Input = { "x" } };
        for (int k = 0; k < outputs; k++)
        {
            node.Output.Add($"y{k}");
            g.Output.Add(OnnxGraphBuilder.FloatValue($"y{k}", "N", null, null, 2, 2));
        }
        node.Attribute.Add(OnnxGraphBuilder.Int("axis", 1));
        node.Attribute.AddRange(attributes);
        g.Node.Add(node);
        var model = new ModelProto { IrVersion = 8, Graph = g };
        model.OpsetImport.Add(new OperatorSetIdProto { Version = opset });
        return model;
    }

    [TestMethod]
    [DataRow(18, 7, 3, "3,3,1")]    // num_outputs: parts of ⌈7/3⌉, the last smaller
    [DataRow(13, 6, 3, "2,2,2")]    // no sizes: equal parts
    [DataRow(11, 5, 2, "4,1")]      // the split attribute
    public void SplitReadsEveryWayOfGivingTheSizes(int opset, int channels, int outputs, string sizes)
    {
        AttributeProto[] attributes = opset switch
        {
            18 => [OnnxGraphBuilder.Int("num_outputs", outputs)],
            11 => [OnnxGraphBuilder.Ints("split", 4, 1)],
            _ => [],
        };
        var model = OnnxImporter.Import(OneSplit(opset, channels, outputs, attributes));
        var split = (Split)((Graph)model.Root.Layers.Single()).Nodes.Single().Layer;
        Assert.AreEqual(sizes, string.Join(",", split.Sizes));
        var x = Fixtures.RandomTensor(new Random(1), [2, channels, 2, 2]);
        var ys = model.ForwardAll(x);
        Assert.AreEqual(outputs, ys.Count);
        int offset = 0;
        for (int k = 0; k < outputs; k++)
        {
            int part = split.Sizes[k] * 4;
            for (int n = 0; n < 2; n++)
                CollectionAssert.AreEqual(x.Span.Slice(n * channels * 4 + offset, part).ToArray(), ys[k].Span.Slice(n * part, part).ToArray());
            offset += part;
        }
    }

    [TestMethod]
    public void SizesThatDoNotCutTheAxisAreRefused()
    {
        var e = Assert.ThrowsExactly<NotSupportedException>(() => OnnxImporter.Import(OneSplit(13, 5, 2)));
        StringAssert.Contains(e.Message, "Split");
        StringAssert.Contains(e.Message, "equal parts");
    }
}
