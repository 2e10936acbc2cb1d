using MLConv.Training.Layers;
using A = MLConv.Export.Onnx.OnnxGraphBuilder;

namespace MLConv.Export.Onnx.Layers;

/// <summary>PixelShuffle ⇄ DepthToSpace in CRD mode (the mode attribute arrived in opset 11; before it DepthToSpace is DCR, which is refused).</summary>
internal sealed class PixelShuffleOnnx : OnnxLayerMapping<PixelShuffle>
{
    public override IReadOnlyList<string> Imports => ["DepthToSpace"];

    protected override (int Opset, string Why) RequiredOpset(PixelShuffle p, string where) =>
        (11, $"{where}: PixelShuffle is DepthToSpace in CRD mode (opset 11)");

    protected override string Export(PixelShuffle p, OnnxExportContext context, string path, IReadOnlyList<string> inputs) =>
        context.Builder.Node("DepthToSpace", path, p.ToString(), [inputs[0]], A.Int("blocksize", p.UpscaleFactor), Pad2dOnnx.StringAttribute("mode", "CRD"));

    public override ImportedLayer Import(OnnxNodeReader n)
    {
        string mode = n.String("mode", "DCR");
        if (mode != "CRD") throw new NotSupportedException($"{n.What}: DepthToSpace in {mode} mode is not supported (CRD, PyTorch's PixelShuffle, is).");
        return n.Single(new PixelShuffle((int)n.Int("blocksize", 0)));
    }
}
