using MLConv.Export.Onnx;
using MLConv.Training.Layers;

namespace MLConv.Export.Tests;

/// <summary>
/// The DAG layers against ONNX Runtime without outside data: LRN with odd and even windows (ONNX's window rule),
/// and a branching Graph with Concat, Sum, a channel shuffle (Reshape → Transpose → Reshape) and a classifier head,
/// exported node by node; then imported back and run again.
/// </summary>
[TestClass]
public sealed class GraphExportTests
{
    [TestMethod]
    [DataRow(3)]
    [DataRow(5)]
    public void LocalResponseNormMatchesOrt(int size) =>
        Fixtures.AssertMatchesOrt(new LocalResponseNorm(size, alpha: 0.5, beta: 0.75, k: 2), [6, 5, 7], batch: 3);

    [TestMethod]
    public void MissingOrCorruptModelFilesGiveClearErrors()
    {
        using var dir = new TempFolder();
        Assert.ThrowsExactly<FileNotFoundException>(() => OnnxImporter.Import(dir["none.onnx"]));
        string path = dir["graph.onnx"];
        OnnxExporter.Export(new Sequential(Branching()), [4, 5, 6], path);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 3)]);
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => OnnxImporter.Import(path)).Message, "not a valid ONNX model");
    }

    [TestMethod]
    public void EvenLrnSizeIsRefusedByName()
    {
        using var dir = new TempFolder();
        var e = Assert.ThrowsExactly<NotSupportedException>(() => OnnxExporter.Export(new LocalResponseNorm(4), [6, 5, 7], dir["lrn.onnx"]));
        StringAssert.Contains(e.Message, "odd");
        Assert.IsFalse(File.Exists(dir["lrn.onnx"]));
    }

    private static Graph Branching() => new("x",
    [
        new GraphNode("a", new Conv2d(4, 4, 3, padding: 1), ["x"], "a"),
        new GraphNode("b", new ReLU(), ["x"], "b"),
        new GraphNode("cat", new Concat(), ["a", "b"], "cat"),                       // 8 channels
        new GraphNode("lrn", new LocalResponseNorm(3), ["cat"], "l"),
        new GraphNode("sum", new Sum(), ["cat", "l", "cat"], "s"),
        new GraphNode("r1", new Reshape(2, 4, 5, 6), ["s"], "r1"),                  // channel shuffle, 2 groups of 4
        new GraphNode("t", new Transpose(0, 2, 1, 3, 4), ["r1"], "t"),
        new GraphNode("r2", new Reshape(8, 5, 6), ["t"], "r2"),
        new GraphNode("pool", new GlobalAvgPool2d(), ["r2"], "p"),
        new GraphNode("flat", new Flatten(), ["p"], "f"),
        new GraphNode("fc", new Linear(8, 3), ["f"], "y"),
    ], "y");

    [TestMethod]
    public void BranchingGraphMatchesOrtAndImportsBack()
    {
        var root = new Sequential(Branching());
        Fixtures.AssertMatchesOrt(root, [4, 5, 6], batch: 3);

        using var dir = new TempFolder();
        string path = dir["graph.onnx"];
        OnnxExporter.Export(root, [4, 5, 6], path);
        var imported = OnnxImporter.Import(path);
        Assert.AreEqual(OnnxExporter.ProbabilitiesName, imported.OutputName, "the importer reads the last output (probabilities)");
        var x = Fixtures.RandomTensor(new Random(5), [2, 4, 5, 6]);
        var expected = new Softmax().Forward(root.Forward(x, false), false).Span.ToArray();
        var actual = imported.Root.Forward(x, false).Span.ToArray();
        double scale = expected.Max(Math.Abs);
        for (int i = 0; i < expected.Length; i++) Assert.AreEqual(expected[i], actual[i], 1e-5 * scale, $"logit {i}");
    }
}
