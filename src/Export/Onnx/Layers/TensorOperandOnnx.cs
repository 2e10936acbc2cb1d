using MLConv.Training.Layers;
using MLConv.Training.Tensors;

namespace MLConv.Export.Onnx.Layers;

/// <summary>
/// TensorOperand ⇄ Add / Sub / Mul / Div of the activation and an initializer holding T (in T's order for T − x, T ÷ x).
/// Read by <see cref="SumOnnx"/> and <see cref="ElementwiseOnnx"/> (which claim the operators) for a constant of any shape
/// that broadcasts against the activation without adding axes, after <see cref="ChannelAffineOnnx"/> has taken the scalar
/// and per-channel ones; before opset 7 the legacy broadcast/axis attributes place the constant.
/// </summary>
internal sealed class TensorOperandOnnx : OnnxLayerMapping<TensorOperand>
{
    protected override string Export(TensorOperand t, OnnxExportContext context, string path, IReadOnlyList<string> inputs)
    {
        var b = context.Builder;
        string value = b.Initializer(OnnxExportContext.Join(path, "value"), t.Value.Value.Span, [.. t.Value.Value.ShapeArray.Select(d => (long)d)]);
        return b.Node(t.Op.ToString(), path, t.ToString(), t.ValueFirst ? [value, inputs[0]] : [inputs[0], value]);
    }

    /// <summary>The TensorOperand computing a node of one activation and one float constant, or null when it is not of that form.</summary>
    internal static ImportedLayer? TryRead(OnnxNodeReader n, ElementwiseOp op)
    {
        if (!n.TryActivationAndConstant(out int active, out var c)) return null;
        var shape = n.ActiveShapes[0];
        var layer = new TensorOperand(op, c, valueFirst: active == 1);
        try { layer.OutputShape(shape); }
        catch (ArgumentException) { return null; }
        return new ImportedLayer(layer, [n.Inputs[active]]);
    }
}
