using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using MLConv.Export;
using MLConv.Export.Onnx;
using MLConv.Training.Layers;
using MLConv.Training.Models;
using MLConv.Training.Tensors;

namespace MLConv.Transforms.Tests;

/// <summary>The scoring graph is the standard export with a flat input and the chain's names, nothing else.</summary>
[TestClass]
public sealed class OnnxScoringGraphTests
{
    private static Network Net()
    {
        var net = Architectures.MobileNetV2(3, 12, 10, 5, seed: 3);
        return new Network(net.Root, 3, 12, 10, net.ClassNames, new Normalization([0.1f, 0.2f, 0.3f], [0.5f, 1.5f, 2f])) { Architecture = net.Architecture };
    }

    private static Tensor Pixels(int n)
    {
        var rng = new Random(4);
        var x = new Tensor(n, 3, 12, 10);
        for (int i = 0; i < x.Length; i++) x[i] = (float)rng.NextDouble();
        return x;
    }

    /// <summary>Probabilities of MLConv's forward on raw pixels (normalised as the network expects).</summary>
    private static Tensor Expected(Network net, Tensor pixels)
    {
        var x = pixels.Clone();
        net.Normalize(x);
        return new Softmax().Forward(net.Forward(x, false), false);
    }

    [TestMethod]
    public void KeepsTheExportsNodesAndWeightsAndPrependsOneReshape()
    {
        var net = Net();
        var export = OnnxExporter.ToModel(net);
        var scoring = OnnxScoringGraph.FromExport(export, "Features", "__p");
        Assert.AreEqual(export.Graph.Node.Count + 1, scoring.Graph.Node.Count);
        Assert.AreEqual("Reshape", scoring.Graph.Node[0].OpType);
        CollectionAssert.AreEqual(new[] { "Features", "input_shape" }, scoring.Graph.Node[0].Input.ToArray());
        CollectionAssert.AreEqual(new[] { OnnxExporter.InputName }, scoring.Graph.Node[0].Output.ToArray());
        for (int i = 0; i < export.Graph.Node.Count; i++)
        {
            var renamed = export.Graph.Node[i].Clone();
            for (int k = 0; k < renamed.Output.Count; k++) if (renamed.Output[k] == OnnxExporter.ProbabilitiesName) renamed.Output[k] = "__p";
            Assert.AreEqual(renamed, scoring.Graph.Node[i + 1]);
        }
        CollectionAssert.AreEqual(export.Graph.Initializer.ToArray(), scoring.Graph.Initializer.Take(export.Graph.Initializer.Count).ToArray());
        CollectionAssert.AreEqual(export.MetadataProps.ToArray(), scoring.MetadataProps.ToArray());
        Assert.AreEqual("Features", scoring.Graph.Input.Single().Name);
        CollectionAssert.AreEqual(new[] { OnnxExporter.LogitsName, "__p" }, scoring.Graph.Output.Select(o => o.Name).ToArray());
        Assert.AreEqual(OnnxExporter.InputName, export.Graph.Input.Single().Name, "the export itself is left as it is");
    }

    /// <summary>The flat input imports back as a Reshape at the head of the graph, and the graph computes the network.</summary>
    [TestMethod]
    public void ImportsAsTheNetworkBehindAReshape()
    {
        var net = Net();
        var model = OnnxImporter.Import(OnnxScoringGraph.FromExport(OnnxExporter.ToModel(net, new OnnxExportOptions { IncludeNormalization = false }), "Features", "__p"));
        var graph = (Graph)model.Root.Layers.Single();
        Assert.IsTrue(graph.Nodes.Any(n => n.Layer is Sum), "the residual Adds");
        Assert.IsTrue(graph.Nodes[0].Layer is Reshape);
        var x = Pixels(3);
        var want = new Softmax().Forward(net.Forward(x, false), false);
        var got = model.Root.Forward(x.Reshape(3, 3 * 12 * 10), false);
        for (int i = 0; i < want.Length; i++) Assert.AreEqual(want[i], got[i], 1e-5f);
    }

    /// <summary>Column names that the export already uses for its own values move those values aside; ONNX Runtime still computes the network.</summary>
    [TestMethod]
    [DataRow("Features", "__p")]
    [DataRow("input", "probabilities")]
    [DataRow("logits", "input")]
    [DataRow("input_shape", "normalization_mean")]
    public void RunsUnderOnnxRuntimeWhateverTheColumnNames(string inputName, string probabilitiesName)
    {
        var net = Net();
        var scoring = OnnxScoringGraph.FromExport(OnnxExporter.ToModel(net), inputName, probabilitiesName);
        var pixels = Pixels(2);
        using var session = new InferenceSession(scoring.ToByteArray());
        using var input = OrtValue.CreateTensorValueFromMemory(pixels.Span.ToArray(), [2, 3 * 12 * 10]);
        using var runOptions = new RunOptions();
        using var outputs = session.Run(runOptions, [inputName], [input], [probabilitiesName]);
        var got = outputs[0].GetTensorDataAsSpan<float>();
        var want = Expected(net, pixels);
        Assert.AreEqual(want.Length, got.Length);
        for (int i = 0; i < want.Length; i++) Assert.AreEqual(want[i], got[i], 1e-5f);
    }

    [TestMethod]
    public void RefusesOneNameForInputAndOutput() =>
        Assert.ThrowsExactly<ArgumentException>(() => OnnxScoringGraph.FromExport(OnnxExporter.ToModel(Net()), "x", "x"));
}
