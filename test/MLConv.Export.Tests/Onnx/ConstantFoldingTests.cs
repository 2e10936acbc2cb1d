using Google.Protobuf;
using Onnx;
using MLConv.Export.Onnx;
using MLConv.Training.Layers;
using MLConv.Training.Models;
using MLConv.Training.Tensors;

namespace MLConv.Export.Tests.Onnx;

/// <summary>
/// Constant subgraphs fold at import (<see cref="OnnxConstantFolding"/>): exporters' shape chains over an activation's
/// Shape disappear, each operator's legacy and current attributes are read, and what stays unsupported is refused
/// naming the node, operator and opset. Graphs are built by hand with the ONNX classes and checked against ONNX Runtime.
/// </summary>
[TestClass]
public sealed class ConstantFoldingTests
{
    private static NodeProto Node(string op, string name, string[] inputs, string output, params AttributeProto[] attributes)
    {
        var n = new NodeProto { OpType = op, Name = name, Output = { output } };
        n.Input.AddRange(inputs);
        n.Attribute.AddRange(attributes);
        return n;
    }

    private static TensorProto Ints(string name, long[] values, params long[] dims)
    {
        var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Int64 };
        t.Dims.AddRange(dims);
        t.Int64Data.AddRange(values);
        return t;
    }

    private static ModelProto Model(long opset, long[] chw, string output, IEnumerable<NodeProto> nodes, params TensorProto[] initializers)
    {
        var g = new GraphProto { Name = "folding" };
        g.Input.Add(OnnxGraphBuilder.FloatValue("x", "N", [null, .. chw.Select(d => (long?)d)]));
        g.Output.Add(new ValueInfoProto { Name = output, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float } } });
        g.Node.AddRange(nodes);
        g.Initializer.AddRange(initializers);
        var model = new ModelProto { IrVersion = OnnxVersions.IrVersionFor((int)opset), Graph = g };
        model.OpsetImport.Add(new OperatorSetIdProto { Version = opset });
        return model;
    }

    /// <summary>Imports the model (its output named "logits", the value <see cref="OnnxVerifier"/> compares) and checks the imported layers against ONNX Runtime on the model file at batch 3.</summary>
    private static OnnxImportedModel ImportAndVerify(ModelProto model, long[] chw)
    {
        var imported = OnnxImporter.Import(model);
        using var dir = new TempFolder();
        string path = dir["model.onnx"];
        File.WriteAllBytes(path, model.ToByteArray());
        var x = Fixtures.RandomTensor(new Random(5), [3, .. chw.Select(d => (int)d)]);
        var report = OnnxVerifier.Verify(imported.Root, path, x);
        Assert.IsTrue(report.Passed(1e-5), report.ToString());
        return imported;
    }

    /// <summary>PyTorch's x.view(x.size(0), -1): Shape → Gather(0) → Unsqueeze → Concat(·, [−1]) → Reshape, Unsqueeze's axes an attribute before opset 13 and an input from it.</summary>
    [TestMethod]
    [DataRow(11)]
    [DataRow(13)]
    public void PyTorchFlattenChainFoldsIntoOneReshape(int opset)
    {
        long[] chw = [2, 3, 4];
        NodeProto unsqueeze = opset < 13
            ? Node("Unsqueeze", "unsq", ["b"], "b1", OnnxGraphBuilder.Ints("axes", 0))
            : Node("Unsqueeze", "unsq", ["b", "axes0"], "b1");
        var model = Model(opset, chw, "logits",
        [
            Node("Relu", "relu", ["x"], "r"),
            Node("Shape", "shape", ["r"], "s"),
            Node("Gather", "gather", ["s", "zero"], "b", OnnxGraphBuilder.Int("axis", 0)),
            unsqueeze,
            Node("Concat", "cat", ["b1", "minus1"], "target", OnnxGraphBuilder.Int("axis", 0)),
            Node("Reshape", "reshape", ["r", "target"], "logits"),
        ], Ints("zero", [0]), Ints("axes0", [0], 1), Ints("minus1", [-1], 1));
        var imported = ImportAndVerify(model, chw);
        CollectionAssert.AreEqual(new[] { "ReLU", "Reshape" }, imported.Root.Layers.Select(l => l.TypeName).ToArray());
    }

    /// <summary>tf2onnx's chain: Shape → Cast → Slice[0:1] → Concat → Reshape, Slice by attributes (opset 9) and by inputs (opset 10+, with a step).</summary>
    [TestMethod]
    [DataRow(9)]
    [DataRow(13)]
    public void SliceOfAShapeFoldsWithLegacyAndCurrentAttributes(int opset)
    {
        long[] chw = [2, 3, 4];
        NodeProto slice = opset < 10
            ? Node("Slice", "slice", ["s"], "b", OnnxGraphBuilder.Ints("starts", 0), OnnxGraphBuilder.Ints("ends", 1), OnnxGraphBuilder.Ints("axes", 0))
            : Node("Slice", "slice", ["s", "zero", "one", "zero", "one"], "b");
        var model = Model(opset, chw, "logits",
        [
            Node("Shape", "shape", ["x"], "s0"),
            Node("Cast", "cast", ["s0"], "s", OnnxGraphBuilder.Int("to", (long)TensorProto.Types.DataType.Int64)),
            slice,
            Node("Concat", "cat", ["b", "rest"], "target", OnnxGraphBuilder.Int("axis", 0)),
            Node("Reshape", "reshape", ["x", "target"], "logits"),
        ], Ints("zero", [0], 1), Ints("one", [1], 1), Ints("rest", [6, 4], 2));
        var imported = ImportAndVerify(model, chw);
        Assert.IsInstanceOfType<Reshape>(imported.Root.Layers.Single());
    }

    private static OnnxConstant Eval(NodeProto node, long opset, params OnnxConstant?[] ins)
    {
        var reader = new OnnxNodeReader(node, $"node '{node.Name}' ({node.OpType}, opset {opset})", opset, [.. ins.Select((_, i) => $"in{i}")], [], [],
            _ => null, _ => null, _ => null);
        return OnnxConstantFolding.Evaluate(reader, ins);
    }

    private static OnnxConstant I(long[] v, params int[] shape) => OnnxConstant.FromInts(v, shape);
    private static OnnxConstant F(float[] v, params int[] shape) => OnnxConstant.FromTensor(new Tensor(shape, v));

    [TestMethod]
    public void OperatorsEvaluateOverConstants()
    {
        var m = F([1, 2, 3, 4, 5, 6], 2, 3);
        CollectionAssert.AreEqual(new double[] { 1, 4, 2, 5, 3, 6 }, Eval(Node("Transpose", "t", [], "y"), 13, m).Values);
        var g = Eval(Node("Gather", "g", [], "y", OnnxGraphBuilder.Int("axis", 1)), 13, m, I([-1, 0], 2));
        CollectionAssert.AreEqual(new double[] { 3, 1, 6, 4 }, g.Values);
        CollectionAssert.AreEqual(new[] { 2, 2 }, g.Shape);
        var s = Eval(Node("Slice", "s", [], "y"), 13, m, I([-1], 1), I([-10], 1), I([1], 1), I([-2], 1));
        CollectionAssert.AreEqual(new double[] { 3, 1, 6, 4 }, s.Values, "a negative step from the end");
        CollectionAssert.AreEqual(new double[] { 2, 4, 6 }, Eval(Node("Range", "r", [], "y"), 13, I([2], []), I([7], []), I([2], [])).Values);
        var q = Eval(Node("Squeeze", "q", [], "y", OnnxGraphBuilder.Ints("axes", 0)), 11, F([1, 2, 3], 1, 3));
        CollectionAssert.AreEqual(new[] { 3 }, q.Shape);
        var u = Eval(Node("Unsqueeze", "u", [], "y"), 13, F([1, 2, 3], 3), I([1, -1], 2));
        CollectionAssert.AreEqual(new[] { 3, 1, 1 }, u.Shape);
        var scale = Eval(Node("Div", "d", [], "y"), 13, F([2, 3], 2), Eval(Node("Sqrt", "sq", [], "v"), 13, F([4, 9], 2)));
        CollectionAssert.AreEqual(new double[] { 1, 1 }, scale.Values);
        var legacy = Eval(Node("Mul", "m", [], "y", OnnxGraphBuilder.Int("broadcast", 1), OnnxGraphBuilder.Int("axis", 0)), 6, m, F([10, 100], 2));
        CollectionAssert.AreEqual(new double[] { 10, 20, 30, 400, 500, 600 }, legacy.Values, "opset-1 broadcast along axis 0");
        var div = Eval(Node("Div", "i", [], "y"), 13, I([7, -7], 2), I([2], 1));
        CollectionAssert.AreEqual(new double[] { 3, -3 }, div.Values, "integer division truncates");
        var cast = Eval(Node("Cast", "c", [], "y", OnnxGraphBuilder.Int("to", (long)TensorProto.Types.DataType.Int64)), 13, F([1.7f, -2.5f], 2));
        Assert.IsTrue(cast.IsInt);
        CollectionAssert.AreEqual(new double[] { 1, -2 }, cast.Values);
    }

    [TestMethod]
    public void ComputingWithTheBatchSizeIsRefusedNamingTheNodeOperatorAndOpset()
    {
        var model = Model(13, [2, 3, 4], "y",
        [
            Node("Shape", "shape", ["x"], "s"),
            Node("Mul", "twice", ["s", "two"], "s2"),
            Node("Reshape", "reshape", ["x", "s2"], "y"),
        ], Ints("two", [2], 1));
        var e = Assert.ThrowsExactly<NotSupportedException>(() => OnnxImporter.Import(model));
        StringAssert.Contains(e.Message, "'twice'");
        StringAssert.Contains(e.Message, "Mul");
        StringAssert.Contains(e.Message, "opset 13");
        StringAssert.Contains(e.Message, "batch");
    }

    [TestMethod]
    public void UnknownOperatorsOverConstantsAreRefusedByName()
    {
        var model = Model(13, [2, 3, 4], "y",
        [
            Node("Einsum", "mystery", ["w"], "w2"),
            Node("Reshape", "reshape", ["x", "w2"], "y"),
        ], Ints("w", [0, -1], 2));
        var e = Assert.ThrowsExactly<NotSupportedException>(() => OnnxImporter.Import(model));
        StringAssert.Contains(e.Message, "'mystery'");
        StringAssert.Contains(e.Message, "Einsum");
        StringAssert.Contains(e.Message, "opset 13");
    }

    /// <summary>A light model's batch norm: scale = γ / √(var + ε) and shift folded, then Unsqueeze to [C, 1, 1], Mul and Add on the activation.</summary>
    [TestMethod]
    public void BatchNormWrittenAsUnsqueezeMulAddImports()
    {
        long[] chw = [3, 4, 5];
        var model = Model(13, chw, "logits",
        [
            Node("Add", "var_eps", ["var", "eps"], "ve"),
            Node("Sqrt", "std", ["ve"], "sd"),
            Node("Div", "scale", ["gamma", "sd"], "k"),
            Node("Unsqueeze", "k_chw", ["k", "axes"], "k3"),
            Node("Unsqueeze", "b_chw", ["beta", "axes"], "b3"),
            Node("Mul", "bn_mul", ["x", "k3"], "xk"),
            Node("Add", "bn_add", ["xk", "b3"], "logits"),
        ],
            OnnxTensors.FromFloats("var", [0.5f, 1f, 2f], 3), OnnxTensors.FromFloats("eps", [1e-5f]),
            OnnxTensors.FromFloats("gamma", [1.5f, -0.5f, 2f], 3), OnnxTensors.FromFloats("beta", [0.1f, 0.2f, -0.3f], 3),
            Ints("axes", [1, 2], 2));
        OnnxImportedModel imported;
        try { imported = ImportAndVerify(model, chw); }
        catch (NotSupportedException e) when (e.Message.Contains("constant", StringComparison.Ordinal))
        {
            Assert.Inconclusive($"Mul/Add of an activation and a constant await the per-channel affine layer: {e.Message}");
            return;
        }
        Assert.IsNotEmpty(imported.Root.Layers);
    }

    /// <summary>MLConv's own export with the input normalisation inside (Sub and Mul by per-channel constants) reads back.</summary>
    [TestMethod]
    public void OwnExportWithNormalisationInsideReadsBack()
    {
        var net = new Network(new Sequential(new Conv2d(3, 4, 3, padding: 1), new ReLU(), new GlobalAvgPool2d(), new Flatten(), new Linear(4, 2)), 3, 6, 5,
            normalization: new Normalization([0.5f, 0.4f, 0.3f], [0.2f, 0.25f, 0.3f]));
        Fixtures.Randomize(net.Root);
        OnnxImportedModel imported;
        try { imported = OnnxImporter.Import(OnnxExporter.ToModel(net)); }
        catch (NotSupportedException e) when (e.Message.Contains("constant", StringComparison.Ordinal))
        {
            Assert.Inconclusive($"Sub/Mul of an activation and a constant await the per-channel affine layer: {e.Message}");
            return;
        }
        var x = Fixtures.RandomTensor(new Random(4), [2, 3, 6, 5]);
        var want = net.ProbabilitiesFromPixels(x);
        var got = imported.Root.Forward(x, false);
        for (int i = 0; i < want.Length; i++) Assert.AreEqual(want[i], got[i], 1e-5f);
    }
}
