using MLConv.Training.Layers;

namespace MLConv.Export.Onnx.Layers;

/// <summary>GlobalAvgPool2d ⇄ GlobalAveragePool.</summary>
internal sealed class GlobalAvgPool2dOnnx : OnnxLayerMapping<GlobalAvgPool2d>
{
    public override IReadOnlyList<string> Imports => ["GlobalAveragePool"];

    protected override string Export(GlobalAvgPool2d g, OnnxExportContext context, string path, IReadOnlyList<string> inputs) =>
        context.Builder.Node("GlobalAveragePool", path, g.ToString(), [inputs[0]]);

    public override ImportedLayer Import(OnnxNodeReader n) => n.Single(new GlobalAvgPool2d());
}
