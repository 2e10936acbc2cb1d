using MLConv.Training.Layers;

namespace MLConv.Export.Onnx.Layers;

/// <summary>GlobalMaxPool2d ⇄ GlobalMaxPool.</summary>
internal sealed class GlobalMaxPool2dOnnx : OnnxLayerMapping<GlobalMaxPool2d>
{
    public override IReadOnlyList<string> Imports => ["GlobalMaxPool"];

    protected override string Export(GlobalMaxPool2d g, OnnxExportContext context, string path, IReadOnlyList<string> inputs) =>
        context.Builder.Node("GlobalMaxPool", path, g.ToString(), [inputs[0]]);

    public override ImportedLayer Import(OnnxNodeReader n) => n.Single(new GlobalMaxPool2d());
}
