using MLConv.Training.Layers;
using A = MLConv.Export.Onnx.OnnxGraphBuilder;

namespace MLConv.Export.Onnx.Layers;

/// <summary>LocalResponseNorm ⇄ LRN (odd sizes only on export: ONNX Runtime's kernel refuses even ones).</summary>
internal sealed class LocalResponseNormOnnx : OnnxLayerMapping<LocalResponseNorm>
{
    public override IReadOnlyList<string> Imports => ["LRN"];

    protected override (int Opset, string Why) RequiredOpset(LocalResponseNorm l, string where) => l.Size % 2 == 0
        ? throw new NotSupportedException(
            $"Layer {where} {l}: ONNX allows an even LRN size but ONNX Runtime's LRN kernel accepts only odd sizes, so the file could not be verified; use an odd size.")
        : (OnnxVersions.MinOpset, "");

    protected override string Export(LocalResponseNorm l, OnnxExportContext context, string path, IReadOnlyList<string> inputs) =>
        context.Builder.Node("LRN", path, l.ToString(), [inputs[0]],
            A.Float("alpha", (float)l.Alpha), A.Float("beta", (float)l.Beta), A.Float("bias", (float)l.K), A.Int("size", l.Size));

    public override ImportedLayer Import(OnnxNodeReader n)
    {
        long size = n.Int("size", 0);
        if (size < 1) throw new NotSupportedException($"{n.What}: size must be >= 1; got {size}.");
        return n.Single(new LocalResponseNorm((int)size, n.Float("alpha", 1e-4f), n.Float("beta", 0.75f), n.Float("bias", 1f)));
    }
}
