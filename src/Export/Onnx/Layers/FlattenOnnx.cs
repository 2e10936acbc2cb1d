using MLConv.Training.Layers;
using A = MLConv.Export.Onnx.OnnxGraphBuilder;

namespace MLConv.Export.Onnx.Layers;

/// <summary>Flatten ⇄ Flatten(axis 1).</summary>
internal sealed class FlattenOnnx : OnnxLayerMapping<Flatten>
{
    public override IReadOnlyList<string> Imports => ["Flatten"];

    protected override string Export(Flatten f, OnnxExportContext context, string path, IReadOnlyList<string> inputs) =>
        context.Builder.Node("Flatten", path, f.ToString(), [inputs[0]], A.Int("axis", 1));

    public override ImportedLayer Import(OnnxNodeReader n) =>
        n.Int("axis", 1) == 1 ? n.Single(new Flatten()) : throw new NotSupportedException($"{n.What}: only axis 1 is read.");
}
