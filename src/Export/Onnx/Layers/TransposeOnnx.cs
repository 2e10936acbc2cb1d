using MLConv.Training.Layers;
using A = MLConv.Export.Onnx.OnnxGraphBuilder;

namespace MLConv.Export.Onnx.Layers;

/// <summary>Transpose ⇄ Transpose keeping the batch axis first.</summary>
internal sealed class TransposeOnnx : OnnxLayerMapping<Transpose>
{
    public override IReadOnlyList<string> Imports => ["Transpose"];

    protected override string Export(Transpose t, OnnxExportContext context, string path, IReadOnlyList<string> inputs) =>
        context.Builder.Node("Transpose", path, t.ToString(), [inputs[0]], A.Ints("perm", [.. t.Perm.Select(p => (long)p)]));

    public override ImportedLayer Import(OnnxNodeReader n)
    {
        var perm = n.Ints("perm") ?? throw new NotSupportedException($"{n.What}: a Transpose without perm reverses the axes, moving the batch axis.");
        if (perm.Length == 0 || perm[0] != 0) throw new NotSupportedException($"{n.What}: perm [{string.Join(", ", perm)}] moves the batch axis.");
        return n.Single(new Transpose([.. perm.Select(p => (int)p)]));
    }
}
