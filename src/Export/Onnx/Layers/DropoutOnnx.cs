using MLConv.Training.Layers;

namespace MLConv.Export.Onnx.Layers;

/// <summary>Dropout is the identity at inference: nothing is written, and an ONNX Dropout reads as nothing (its mask output ignored).</summary>
internal sealed class DropoutOnnx : OnnxLayerMapping<Dropout>
{
    public override IReadOnlyList<string> Imports => ["Dropout"];

    public override bool IgnoresExtraOutputs => true;

    protected override string Export(Dropout d, OnnxExportContext context, string path, IReadOnlyList<string> inputs) => inputs[0];

    public override ImportedLayer Import(OnnxNodeReader n)
    {
        n.Accept("ratio", "is_test", "seed");
        return n.Single(null);
    }
}
