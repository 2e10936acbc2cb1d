using MLConv.Training.Layers;
using A = MLConv.Export.Onnx.OnnxGraphBuilder;

namespace MLConv.Export.Onnx.Layers;

/// <summary>
/// HardSwish ⇄ HardSwish (opset 14 on); below 14 it is written as Mul(x, HardSigmoid(x; 1/6, 1/2)), as PyTorch does,
/// and that pattern reads back as one HardSwish.
/// </summary>
internal sealed class HardSwishOnnx : OnnxLayerMapping<HardSwish>
{
    public override IReadOnlyList<string> Imports => ["HardSwish"];
    public override IReadOnlyList<string> Fuses => ["Mul"];

    protected override string Export(HardSwish h, OnnxExportContext context, string path, IReadOnlyList<string> inputs)
    {
        var b = context.Builder;
        if (context.Opset >= 14) return b.Node("HardSwish", path, h.ToString(), [inputs[0]]);
        string gate = b.Node("HardSigmoid", path, h.ToString(), [inputs[0]], A.Float("alpha", HardSwish.Alpha), A.Float("beta", HardSwish.Beta));
        return b.Node("Mul", path, h.ToString(), [inputs[0], gate]);
    }

    public override ImportedLayer Import(OnnxNodeReader n) => n.Single(new HardSwish());

    public override ImportedLayer? TryFuse(OnnxNodeReader n) =>
        SiLUOnnx.Gate(n) is ({ } x, HardSigmoid g) && (float)g.Alpha == HardSwish.Alpha && (float)g.Beta == HardSwish.Beta
            ? new ImportedLayer(new HardSwish(), [x])
            : null;
}
