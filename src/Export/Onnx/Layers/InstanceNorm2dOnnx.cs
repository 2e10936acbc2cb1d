using MLConv.Training.Layers;
using A = MLConv.Export.Onnx.OnnxGraphBuilder;

namespace MLConv.Export.Onnx.Layers;

/// <summary>InstanceNorm2d ⇄ InstanceNormalization (scale and B are required inputs: ones and zeros without affine; read back as affine unless they are).</summary>
internal sealed class InstanceNorm2dOnnx : OnnxLayerMapping<InstanceNorm2d>
{
    public override IReadOnlyList<string> Imports => ["InstanceNormalization"];

    protected override string Export(InstanceNorm2d l, OnnxExportContext context, string path, IReadOnlyList<string> inputs)
    {
        var b = context.Builder;
        var ones = new float[l.NumFeatures];
        Array.Fill(ones, 1f);
        string scale = b.Initializer(OnnxExportContext.Join(path, "weight"), l.Gamma is null ? ones : l.Gamma.Value.Span, l.NumFeatures);
        string shift = b.Initializer(OnnxExportContext.Join(path, "bias"), l.Beta is null ? new float[l.NumFeatures] : l.Beta.Value.Span, l.NumFeatures);
        return b.Node("InstanceNormalization", path, l.ToString(), [inputs[0], scale, shift], A.Float("epsilon", (float)l.Eps));
    }

    public override ImportedLayer Import(OnnxNodeReader n)
    {
        n.Accept("consumed_inputs");
        var scale = n.Constant(1);
        var shift = n.Constant(2);
        if (n.Shape.Length != 4) throw new NotSupportedException($"{n.What}: only an [N, C, H, W] input is read; got [{string.Join(", ", n.Shape)}].");
        int c = n.Shape[1];
        bool identity = scale.Span.IndexOfAnyExcept(1f) < 0 && shift.Span.IndexOfAnyExcept(0f) < 0;
        var layer = new InstanceNorm2d(c, n.Float("epsilon", 1e-5f), affine: !identity);
        if (!identity)
        {
            n.CopyExact(scale, layer.Gamma!.Value);
            n.CopyExact(shift, layer.Beta!.Value);
        }
        return n.Single(layer);
    }
}
