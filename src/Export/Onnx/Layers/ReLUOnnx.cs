using MLConv.Training.Layers;

namespace MLConv.Export.Onnx.Layers;

/// <summary>ReLU ⇄ Relu.</summary>
internal sealed class ReLUOnnx : OnnxLayerMapping<ReLU>
{
    public override IReadOnlyList<string> Imports => ["Relu"];

    protected override string Export(ReLU r, OnnxExportContext context, string path, IReadOnlyList<string> inputs) =>
        context.Builder.Node("Relu", path, r.ToString(), [inputs[0]]);

    public override ImportedLayer Import(OnnxNodeReader n) => n.Single(new ReLU());
}
