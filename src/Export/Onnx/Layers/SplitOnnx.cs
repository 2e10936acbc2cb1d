using MLConv.Training.Layers;
using A = MLConv.Export.Onnx.OnnxGraphBuilder;

namespace MLConv.Export.Onnx.Layers;

/// <summary>
/// Split ⇄ Split with one output per part. The sizes are written as the <c>split</c> attribute below opset 13 and as the
/// <c>split</c> input from 13; read from either, from opset 18's <c>num_outputs</c> (parts of ⌈size / n⌉, the last one
/// smaller), or as equal parts, one per output, when neither is given.
/// </summary>
internal sealed class SplitOnnx : OnnxLayerMapping<Split>
{
    public override IReadOnlyList<string> Imports => ["Split"];

    protected override string Export(Split s, OnnxExportContext context, string path, IReadOnlyList<string> inputs) =>
        ExportAll(s, context, path, inputs)[0];

    protected override IReadOnlyList<string> ExportAll(Split s, OnnxExportContext context, string path, IReadOnlyList<string> inputs)
    {
        var b = context.Builder;
        long[] sizes = [.. s.Sizes.Select(v => (long)v)];
        if (context.Opset < 13)
            return b.Node("Split", path, s.ToString(), [inputs[0]], s.OutputCount, A.Int("axis", s.Axis), A.Ints("split", sizes));
        string split = b.Int64Initializer(OnnxExportContext.Join(path, "split"), sizes, sizes.Length);
        return b.Node("Split", path, s.ToString(), [inputs[0], split], s.OutputCount, A.Int("axis", s.Axis));
    }

    public override ImportedLayer Import(OnnxNodeReader n)
    {
        string x = n.X;
        int[] shape = n.Shape;
        long given = n.Int("axis", 0), axis = given < 0 ? given + shape.Length : given;
        if (axis < 0 || axis >= shape.Length)
            throw new NotSupportedException($"{n.What}: axis {given} is outside an input of rank {shape.Length}.");
        int outputs = n.Node.Output.Count, dim = shape[axis];
        if (n.Node.Output.Any(o => o.Length == 0)) throw new NotSupportedException($"{n.What}: every output of Split must be named.");
        long[] sizes;
        if (n.HasInput(1)) sizes = n.IntConstant(1);
        else if (n.Opset < 13 && n.Ints("split") is { } attribute) sizes = attribute;
        else if (n.Opset >= 18 && n.Has("num_outputs"))
        {
            long parts = n.Int("num_outputs", outputs), chunk = (dim + parts - 1) / Math.Max(1, parts);
            sizes = [.. Enumerable.Range(0, (int)parts).Select(k => Math.Min(chunk, Math.Max(0, dim - k * chunk)))];
        }
        else
        {
            if (dim % outputs != 0) throw new NotSupportedException($"{n.What}: {dim} along axis {axis} does not split into {outputs} equal parts.");
            sizes = [.. Enumerable.Repeat((long)(dim / outputs), outputs)];
        }
        if (sizes.Length != outputs || sizes.Sum() != dim || sizes.Any(v => v < 1))
            throw new NotSupportedException($"{n.What}: parts [{string.Join(", ", sizes)}] do not cut {dim} along axis {axis} into {outputs} non-empty outputs.");
        return new ImportedLayer(new Split((int)axis, [.. sizes.Select(v => (int)v)]), [x]);
    }
}
