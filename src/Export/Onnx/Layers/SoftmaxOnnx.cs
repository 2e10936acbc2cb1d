using MLConv.Training.Layers;
using A = MLConv.Export.Onnx.OnnxGraphBuilder;

namespace MLConv.Export.Onnx.Layers;

/// <summary>Softmax ⇄ Softmax / LogSoftmax over axis 1 of [N, K].</summary>
internal sealed class SoftmaxOnnx : OnnxLayerMapping<Softmax>
{
    public override IReadOnlyList<string> Imports => ["Softmax", "LogSoftmax"];

    protected override string Export(Softmax s, OnnxExportContext context, string path, IReadOnlyList<string> inputs) =>
        context.Builder.Node(s.Log ? "LogSoftmax" : "Softmax", path, s.ToString(), [inputs[0]], A.Int("axis", 1));

    /// <summary>
    /// Softmax over the last axis of [N, K]. On [N, C, …] with axis 1 before opset 13 the input is flattened to
    /// [N, C·…] first (so are the opset-13 semantics, one axis, when the axes after it are all 1):
    /// Flatten → Softmax → Reshape back.
    /// </summary>
    public override ImportedLayer Import(OnnxNodeReader n)
    {
        bool log = n.Node.OpType == "LogSoftmax";
        var shape = n.Shape;
        long given = n.Int("axis", n.Opset >= 13 ? -1 : 1), axis = given < 0 ? given + shape.Length : given;
        if (shape.Length == 2 && axis == 1) return n.Single(new Softmax(log));
        if (shape.Length > 2 && axis == 1 && (n.Opset < 13 || shape.Skip(2).All(d => d == 1)))
            return n.Single(new Sequential(new Flatten(), new Softmax(log), new Reshape([.. shape.Skip(1)])));
        throw new NotSupportedException($"{n.What}: only a softmax over all axes after the batch axis is read (input [{string.Join(", ", shape)}], axis {given}, opset {n.Opset}).");
    }
}
