using MLConv.Training.Layers;

namespace MLConv.Export.Onnx.Layers;

/// <summary>Elementwise ⇄ Add / Sub / Mul / Div of two activations (NumPy broadcasting, opset ≥ 7 as every export; Add is read by <see cref="SumOnnx"/>).</summary>
internal sealed class ElementwiseOnnx : OnnxLayerMapping<Elementwise>
{
    public override IReadOnlyList<string> Imports => ["Mul", "Sub", "Div"];

    protected override string Export(Elementwise e, OnnxExportContext context, string path, IReadOnlyList<string> inputs) =>
        context.Builder.Node(e.Op.ToString(), path, e.ToString(), [inputs[0], inputs[1]]);

    public override ImportedLayer Import(OnnxNodeReader n) => Read(n, Enum.Parse<ElementwiseOp>(n.Node.OpType));

    /// <summary>An element-wise operator of two activations; before opset 7 only the legacy broadcast without an axis.</summary>
    public static ImportedLayer Read(OnnxNodeReader n, ElementwiseOp op)
    {
        if (n.Active.Count == 1)
            return ChannelAffineOnnx.TryReadConstantOperand(n) ?? TensorOperandOnnx.TryRead(n, op)
                ?? throw new NotSupportedException($"{n.What}: {n.Node.OpType} of an activation and a constant is read only for a constant that broadcasts against the activation without adding axes.");
        n.Accept("consumed_inputs");
        if (n.Has("axis")) throw new NotSupportedException($"{n.What}: the legacy broadcast along an axis between two activations is not supported.");
        n.Accept("broadcast");
        var inputs = n.Joined();
        if (inputs.Length != 2) throw new NotSupportedException($"{n.What}: {n.Node.OpType} takes two inputs; got {inputs.Length}.");
        var layer = new Elementwise(op);
        try { layer.OutputShape(n.ActiveShapes); }
        catch (ArgumentException e) { throw new NotSupportedException($"{n.What}: {e.Message}", e); }
        return new ImportedLayer(layer, inputs);
    }
}
