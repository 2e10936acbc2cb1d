using MLConv.Training.Layers;

namespace MLConv.Export.Onnx.Layers;

/// <summary>
/// Sum ⇄ Sum; Add of two activations of one shape reads as Sum, of two broadcast shapes as <see cref="Elementwise"/>,
/// Add of a constant bias after a MatMul as that Linear's bias, Add of another constant as a <see cref="ChannelAffine"/> (scalar or per channel) or a <see cref="TensorOperand"/>.
/// </summary>
internal sealed class SumOnnx : OnnxLayerMapping<Sum>
{
    public override IReadOnlyList<string> Imports => ["Sum", "Add"];

    protected override string Export(Sum s, OnnxExportContext context, string path, IReadOnlyList<string> inputs) =>
        inputs.Count == 1 ? inputs[0] : context.Builder.Node("Sum", path, s.ToString(), inputs);

    public override ImportedLayer Import(OnnxNodeReader n)
    {
        if (n.Node.OpType == "Add" && n.Active.Count == 2 && !n.ActiveShapes[0].AsSpan().SequenceEqual(n.ActiveShapes[1]))
            return ElementwiseOnnx.Read(n, ElementwiseOp.Add);
        n.Accept("broadcast", "axis", "consumed_inputs");
        if (n.Node.OpType == "Add" && n.Active.Count == 1)
            return n.Inputs.Count == 2 && n.Producer(n.Inputs[n.Active[0]]) is { Layer: Linear { Bias: null } } ? LinearOnnx.ReadBiasAdd(n)
                : ChannelAffineOnnx.TryReadConstantOperand(n) ?? TensorOperandOnnx.TryRead(n, ElementwiseOp.Add)
                  ?? throw new NotSupportedException($"{n.What}: only the sum of activations, the bias Add after a MatMul, or the Add of a constant that broadcasts against the activation is read.");
        var inputs = n.Joined();
        return new ImportedLayer(inputs.Length == 1 ? null : new Sum(), inputs);
    }
}
