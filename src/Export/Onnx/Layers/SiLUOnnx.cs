using MLConv.Training.Layers;

namespace MLConv.Export.Onnx.Layers;

/// <summary>SiLU → Sigmoid + Mul(x, σ(x)) (no ONNX operator in opsets 7–22); Mul(x, Sigmoid(x)) reads back as one SiLU.</summary>
internal sealed class SiLUOnnx : OnnxLayerMapping<SiLU>
{
    public override IReadOnlyList<string> Fuses => ["Mul"];

    protected override string Export(SiLU s, OnnxExportContext context, string path, IReadOnlyList<string> inputs)
    {
        string gate = context.Builder.Node("Sigmoid", path, s.ToString(), [inputs[0]]);
        return context.Builder.Node("Mul", path, s.ToString(), [inputs[0], gate]);
    }

    public override ImportedLayer? TryFuse(OnnxNodeReader n) =>
        Gate(n) is ({ } x, Sigmoid) ? new ImportedLayer(new SiLU(), [x]) : null;

    /// <summary>
    /// For Mul(x, g(x)) (either order), where g is one layer reading x: x and g. A gated activation (SiLU, HardSwish) is
    /// written so. Marks Mul's legacy broadcast attributes read, which do nothing for two operands of one shape.
    /// </summary>
    internal static (string? X, Layer? Gate) Gate(OnnxNodeReader n)
    {
        if (n.Inputs.Count != 2 || n.Active.Count != 2) return (null, null);
        for (int a = 0; a < 2; a++)
            if (n.Producer(n.Inputs[1 - a]) is { Layer: { } g, Inputs: [var gx] } && gx == n.Inputs[a])
            {
                n.Accept("broadcast", "axis", "consumed_inputs");
                return (n.Inputs[a], g);
            }
        return (null, null);
    }
}
