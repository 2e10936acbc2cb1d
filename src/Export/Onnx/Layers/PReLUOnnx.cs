using MLConv.Training.Layers;

namespace MLConv.Export.Onnx.Layers;

/// <summary>
/// PReLU ⇄ PRelu: one shared slope as a [1] tensor, a slope per channel as [C, 1, 1] (which broadcasts over [N, C, H, W]).
/// Read back: a one-value slope, or C values shaped to broadcast along axis 1 of a 4-D input ([C] too before opset 7,
/// whose PRelu took a slope per channel).
/// </summary>
internal sealed class PReLUOnnx : OnnxLayerMapping<PReLU>
{
    public override IReadOnlyList<string> Imports => ["PRelu"];

    protected override string Export(PReLU p, OnnxExportContext context, string path, IReadOnlyList<string> inputs)
    {
        long[] dims = p.NumParameters == 1 ? [1] : [p.NumParameters, 1, 1];
        string slope = context.Builder.Initializer(OnnxExportContext.Join(path, "weight"), p.Weight.Value.Span, dims);
        return context.Builder.Node("PRelu", path, p.ToString(), [inputs[0], slope]);
    }

    public override ImportedLayer Import(OnnxNodeReader n)
    {
        n.Accept("consumed_inputs");
        var slope = n.Constant(1);
        var shape = n.Shape;
        PReLU layer;
        if (slope.Length == 1) layer = new PReLU(1);
        else if (shape.Length == 4 && slope.Length == shape[1] && slope.Rank <= 4 && (PerChannel(slope.ShapeArray) || (n.Opset < 7 && slope.Rank == 1)))
            layer = new PReLU(shape[1]);
        else
            throw new NotSupportedException($"{n.What}: a slope of shape [{slope.ShapeString}] on an input [{string.Join(", ", shape)}] is neither shared nor per channel.");
        n.CopyExact(slope, layer.Weight.Value);
        return n.Single(layer);
    }

    /// <summary>Whether dims, aligned to the right of [N, C, H, W] (ONNX broadcasting), are [1, C, 1, 1].</summary>
    private static bool PerChannel(int[] dims)
    {
        int[] full = [.. Enumerable.Repeat(1, 4 - dims.Length), .. dims];
        return full[0] == 1 && full[2] == 1 && full[3] == 1;
    }
}
