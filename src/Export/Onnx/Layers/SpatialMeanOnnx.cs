using MLConv.Training.Layers;
using A = MLConv.Export.Onnx.OnnxGraphBuilder;

namespace MLConv.Export.Onnx.Layers;

/// <summary>SpatialMean ⇄ ReduceMean over axes [2, 3] of an [N, C, H, W] input (axes an attribute before opset 18, an input from 18).</summary>
internal sealed class SpatialMeanOnnx : OnnxLayerMapping<SpatialMean>
{
    public override IReadOnlyList<string> Imports => ["ReduceMean"];

    protected override string Export(SpatialMean m, OnnxExportContext context, string path, IReadOnlyList<string> inputs)
    {
        var b = context.Builder;
        var keep = A.Int("keepdims", m.KeepDims ? 1 : 0);
        return context.Opset < 18
            ? b.Node("ReduceMean", path, m.ToString(), [inputs[0]], A.Ints("axes", 2, 3), keep)
            : b.Node("ReduceMean", path, m.ToString(), [inputs[0], b.Int64Initializer(OnnxExportContext.Join(path, "axes"), [2, 3], 2)], keep);
    }

    public override ImportedLayer Import(OnnxNodeReader n)
    {
        var axes = n.Opset < 18 ? n.Ints("axes") : n.HasInput(1) ? n.IntConstant(1) : null;
        if (n.Int("noop_with_empty_axes", 0) != 0) throw new NotSupportedException($"{n.What}: noop_with_empty_axes is not supported.");
        int rank = n.Shape.Length;
        var sorted = (axes ?? []).Select(a => a < 0 ? a + rank : a).Order().ToArray();
        if (rank != 4 || sorted is not [2, 3])
            throw new NotSupportedException($"{n.What}: only the mean over H and W (axes 2, 3) of an [N, C, H, W] input is read; got axes [{string.Join(", ", axes ?? [])}] of rank {rank}.");
        return n.Single(new SpatialMean(n.Int("keepdims", 1) != 0));
    }
}
