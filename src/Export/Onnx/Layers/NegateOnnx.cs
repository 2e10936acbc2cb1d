using MLConv.Training.Layers;

namespace MLConv.Export.Onnx.Layers;

/// <summary>Negate ⇄ Neg; Neg → MaxPool → Neg (how <see cref="MinPool2dOnnx"/> writes min pooling) reads back as one MinPool2d.</summary>
internal sealed class NegateOnnx : OnnxLayerMapping<Negate>
{
    public override IReadOnlyList<string> Imports => ["Neg"];

    protected override string Export(Negate n, OnnxExportContext context, string path, IReadOnlyList<string> inputs) =>
        context.Builder.Node("Neg", path, n.ToString(), [inputs[0]]);

    public override ImportedLayer Import(OnnxNodeReader n)
    {
        if (n.Producer(n.X) is { Layer: MaxPool2d max } pool && n.Producer(pool.Inputs[0]) is { Layer: Negate } neg)
            return new ImportedLayer(new MinPool2d(max.KernelSize, max.Stride, Padding.Explicit(max.Geometry.PadTop, max.Geometry.PadLeft,
                max.Geometry.PadBottom, max.Geometry.PadRight), max.Dilation, max.CeilMode), neg.Inputs);
        return n.Single(new Negate());
    }
}
