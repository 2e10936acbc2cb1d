using Onnx;
using MLConv.Training.Layers;
using A = MLConv.Export.Onnx.OnnxGraphBuilder;

namespace MLConv.Export.Onnx.Layers;

/// <summary>
/// Clip ⇄ Clip: the bounds are attributes min/max before opset 11 and optional scalar inputs from 11 on; an infinite
/// (absent) bound is left out.
/// </summary>
internal sealed class ClipOnnx : OnnxLayerMapping<Clip>
{
    public override IReadOnlyList<string> Imports => ["Clip"];

    protected override string Export(Clip c, OnnxExportContext context, string path, IReadOnlyList<string> inputs)
    {
        var b = context.Builder;
        bool hasMin = double.IsFinite(c.Min), hasMax = double.IsFinite(c.Max);
        if (context.Opset < 11)
        {
            List<AttributeProto> attributes = [];
            if (hasMax) attributes.Add(A.Float("max", (float)c.Max));
            if (hasMin) attributes.Add(A.Float("min", (float)c.Min));
            return b.Node("Clip", path, c.ToString(), [inputs[0]], [.. attributes]);
        }
        List<string> ins = [inputs[0]];
        if (hasMin || hasMax) ins.Add(hasMin ? b.Initializer(OnnxExportContext.Join(path, "min"), [(float)c.Min]) : "");
        if (hasMax) ins.Add(b.Initializer(OnnxExportContext.Join(path, "max"), [(float)c.Max]));
        return b.Node("Clip", path, c.ToString(), ins);
    }

    public override ImportedLayer Import(OnnxNodeReader n)
    {
        n.Accept("consumed_inputs");
        if (n.Opset < 11) return n.Single(new Clip(n.Float("min", float.NegativeInfinity), n.Float("max", float.PositiveInfinity)));
        return n.Single(new Clip(Bound(n, 1, double.NegativeInfinity), Bound(n, 2, double.PositiveInfinity)));
    }

    private static double Bound(OnnxNodeReader n, int input, double none)
    {
        if (!n.HasInput(input)) return none;
        var t = n.Constant(input);
        return t.Length == 1 ? t[0] : throw new NotSupportedException($"{n.What}: input {input} must be a scalar; got [{t.ShapeString}].");
    }
}
