using MLConv.Training.Layers;
using A = MLConv.Export.Onnx.OnnxGraphBuilder;

namespace MLConv.Export.Onnx.Layers;

/// <summary>Softmax ⇄ Softmax / LogSoftmax: over axis 1 of [N, K], or over one axis of any tensor (opset 13's semantics).</summary>
internal sealed class SoftmaxOnnx : OnnxLayerMapping<Softmax>
{
    public override IReadOnlyList<string> Imports => ["Softmax", "LogSoftmax"];

    /// <summary>Before opset 13 ONNX's softmax runs over all axes from its axis on; one axis of a higher-rank tensor needs 13.</summary>
    protected override (int Opset, string Why) RequiredOpset(Softmax s, string where) => s.Axis is null
        ? (OnnxVersions.MinOpset, "")
        : (13, $"{s} at {OnnxExportContext.Describe(where)} runs over one axis, which ONNX's Softmax does from opset 13");

    protected override string Export(Softmax s, OnnxExportContext context, string path, IReadOnlyList<string> inputs) =>
        context.Builder.Node(s.Log ? "LogSoftmax" : "Softmax", path, s.ToString(), [inputs[0]], A.Int("axis", s.Axis ?? 1));

    /// <summary>
    /// From opset 13 the softmax runs over one axis: [N, K] with axis 1 reads as the row softmax, any other input as a
    /// Softmax over that axis. Before opset 13 the input is flattened to [Π_{d &lt; axis}, Π_{d ≥ axis}] first: with
    /// axis 1 that is Flatten → Softmax → Reshape back; with the last axis (or only 1s after it) one axis; otherwise
    /// Reshape to [N, …, Π_{d ≥ axis}] → Softmax over the last → Reshape back.
    /// </summary>
    public override ImportedLayer Import(OnnxNodeReader n)
    {
        bool log = n.Node.OpType == "LogSoftmax";
        var shape = n.Shape;
        int rank = shape.Length;
        long given = n.Int("axis", n.Opset >= 13 ? -1 : 1), axis = given < 0 ? given + rank : given;
        if (axis < 1 || axis >= rank)
            throw new NotSupportedException($"{n.What}: a softmax over axis {given} of [{string.Join(", ", shape)}] is not read (the batch axis is 0).");
        if (rank == 2) return n.Single(new Softmax(log));
        bool onlyOnesAfter = shape.Skip((int)axis + 1).All(d => d == 1);
        if (axis == 1 && (n.Opset < 13 || onlyOnesAfter))
            return n.Single(new Sequential(new Flatten(), new Softmax(log), new Reshape([.. shape.Skip(1)])));
        if (n.Opset >= 13 || onlyOnesAfter) return n.Single(new Softmax(log, (int)axis));
        int[] joined = [.. shape.Skip(1).Take((int)axis - 1), shape.Skip((int)axis).Aggregate(1, (p, d) => p * d)];
        return n.Single(new Sequential(new Reshape(joined), new Softmax(log, (int)axis), new Reshape([.. shape.Skip(1)])));
    }
}
