using Onnx;
using MLConv.Export.Onnx;
using MLConv.Export.Onnx.Layers;
using MLConv.Training.Layers;
using MLConv.Training.Tensors;

namespace MLConv.Export.Tests.Onnx;

/// <summary>Arithmetic of an activation and a scalar or per-channel constant reads as a <see cref="ChannelAffine"/>.</summary>
[TestClass]
public sealed class ChannelAffineImportTests
{
    private static readonly float[] C = [2f, -0.5f, 4f];

    /// <summary>The node op(x, c) or op(c, x) over an activation x of shape [1, 3, 2, 2], as the importer would show it to a mapping.</summary>
    private static ImportedLayer? Read(string op, bool constantFirst, int[] constantShape, long opset = 13, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = op, Input = { constantFirst ? "c" : "x", constantFirst ? "x" : "c" }, Output = { "y" } };
        node.Attribute.Add(attributes);
        var c = new Tensor(constantShape, constantShape.Aggregate(1, (a, d) => a * d) == 1 ? [C[0]] : (float[])C.Clone());
        var reader = new OnnxNodeReader(node, $"node ({op})", opset, [.. node.Input], [constantFirst ? 1 : 0], [[1, 3, 2, 2]],
            n => n == "c" ? c : null, _ => null, _ => null);
        var read = ChannelAffineOnnx.TryReadConstantOperand(reader);
        reader.ThrowOnUnread();
        return read;
    }

    private static float[] Apply(ImportedLayer read)
    {
        Assert.IsInstanceOfType<ChannelAffine>(read.Layer);
        CollectionAssert.AreEqual(new[] { "x" }, read.Inputs);
        var x = new Tensor([1, 3, 2, 2], [.. Enumerable.Range(0, 12).Select(i => i - 5f)]);
        return read.Layer!.Forward(x, false).Span.ToArray();
    }

    private static float[] Expected(Func<float, float, float> f, bool scalar) =>
        [.. Enumerable.Range(0, 12).Select(i => f(i - 5f, scalar ? C[0] : C[i / 4]))];

    [TestMethod]
    [DataRow("Add", false)]
    [DataRow("Add", true)]
    [DataRow("Sub", false)]
    [DataRow("Sub", true)]
    [DataRow("Mul", false)]
    [DataRow("Mul", true)]
    [DataRow("Div", false)]
    public void PerChannelAndScalarConstantsReadAsAnAffine(string op, bool constantFirst)
    {
        Func<float, float, float> f = op switch
        {
            "Add" => (x, c) => x + c,
            "Sub" => constantFirst ? (x, c) => c - x : (x, c) => x - c,
            "Mul" => (x, c) => x * c,
            _ => (x, c) => x / c,
        };
        foreach (var (shape, scalar) in new (int[], bool)[] { ([3, 1, 1], false), ([1, 3, 1, 1], false), ([], true), ([1], true) })
        {
            var got = Apply(Read(op, constantFirst, shape)!);
            var want = Expected(f, scalar);
            for (int i = 0; i < want.Length; i++) Assert.AreEqual(want[i], got[i], 1e-6f, $"{op} [{string.Join(", ", shape)}] element {i}");
        }
    }

    [TestMethod]
    public void LegacyBroadcastAlignsTheConstantAtItsAxis()
    {
        var read = Read("Mul", false, [3], 6, OnnxGraphBuilder.Int("broadcast", 1), OnnxGraphBuilder.Int("axis", 1));
        var got = Apply(read!);
        var want = Expected((x, c) => x * c, false);
        for (int i = 0; i < want.Length; i++) Assert.AreEqual(want[i], got[i], 1e-6f);
    }

    [TestMethod]
    public void OtherFormsAreLeftToTheCaller()
    {
        Assert.IsNull(Read("Div", true, [3, 1, 1]), "c / x is not affine");
        Assert.IsNull(Read("Mul", false, [3]), "a [3] constant broadcasts over W, not the channels");
        Assert.IsNull(Read("Pow", false, [3, 1, 1]));
    }

    /// <summary>Through the importer: a per-channel Add reads as one ChannelAffine; a following Add folds into it.</summary>
    [TestMethod]
    public void AddOfAPerChannelConstantImportsAsChannelAffine()
    {
        var g = new GraphProto();
        g.Input.Add(OnnxGraphBuilder.FloatValue("x", "N", null, 3, 2, 2));
        g.Output.Add(OnnxGraphBuilder.FloatValue("z", "N", null, 3, 2, 2));
        var c = new TensorProto { Name = "c", DataType = (int)TensorProto.Types.DataType.Float, Dims = { 3, 1, 1 }, FloatData = { C } };
        var s = new TensorProto { Name = "s", DataType = (int)TensorProto.Types.DataType.Float, FloatData = { 0.25f } };
        g.Initializer.Add(c);
        g.Initializer.Add(s);
        g.Node.Add(new NodeProto { Name = "add", OpType = "Add", Input = { "x", "c" }, Output = { "y" } });
        g.Node.Add(new NodeProto { Name = "add2", OpType = "Add", Input = { "s", "y" }, Output = { "z" } });
        var model = new ModelProto { IrVersion = 8, Graph = g };
        model.OpsetImport.Add(new OperatorSetIdProto { Version = 13 });
        var root = OnnxImporter.Import(model).Root;
        var affine = (ChannelAffine)root.Layers.Single();
        CollectionAssert.AreEqual(new[] { 1f, 1f, 1f }, affine.Scale.Value.Span.ToArray());
        CollectionAssert.AreEqual(C.Select(v => v + 0.25f).ToArray(), affine.Shift.Value.Span.ToArray());
    }
}
