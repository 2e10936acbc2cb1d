using MLConv.Training.Layers;
using A = MLConv.Export.Onnx.OnnxGraphBuilder;

namespace MLConv.Export.Onnx.Layers;

/// <summary>
/// ConvTranspose2d ⇄ ConvTranspose (pads [top, left, bottom, right]; weight [in, out/groups, kH, kW]). auto_pad VALID reads as
/// no padding; SAME is refused (runtimes disagree on where its odd cell goes); output_shape is read when explicit pads give that size.
/// </summary>
internal sealed class ConvTranspose2dOnnx : OnnxLayerMapping<ConvTranspose2d>
{
    public override IReadOnlyList<string> Imports => ["ConvTranspose"];

    protected override string Export(ConvTranspose2d c, OnnxExportContext context, string path, IReadOnlyList<string> inputs)
    {
        var g = c.Geometry;
        var b = context.Builder;
        // ONNX Runtime checks output_padding < stride (it inverts the size formula); PyTorch and MLConv allow up to
        // max(stride, dilation). Output padding only stops cropping the end padding, so it moves into the end pads when they hold it.
        var (opH, padBottom) = FoldOutputPadding(c.OutputPadding.H, g.StrideH, g.PadBottom, path, "H");
        var (opW, padRight) = FoldOutputPadding(c.OutputPadding.W, g.StrideW, g.PadRight, path, "W");
        string w = b.Initializer(OnnxExportContext.Join(path, "weight"), c.Weight.Value.Span, c.InChannels, c.OutChannels / c.Groups, g.KernelH, g.KernelW);
        List<string> ins = [inputs[0], w];
        if (c.Bias is not null) ins.Add(b.Initializer(OnnxExportContext.Join(path, "bias"), c.Bias.Value.Span, c.OutChannels));
        return b.Node("ConvTranspose", path, c.ToString(), ins,
            A.Ints("kernel_shape", g.KernelH, g.KernelW),
            A.Ints("strides", g.StrideH, g.StrideW),
            A.Ints("pads", g.PadTop, g.PadLeft, padBottom, padRight),
            A.Ints("output_padding", opH, opW),
            A.Ints("dilations", g.DilationH, g.DilationW),
            A.Int("group", c.Groups));
    }

    private static (int OutputPadding, int PadEnd) FoldOutputPadding(int outputPadding, int stride, int padEnd, string path, string axis)
    {
        if (outputPadding < stride) return (outputPadding, padEnd);
        if (padEnd >= outputPadding) return (0, padEnd - outputPadding);
        throw new NotSupportedException(
            $"Layer {OnnxExportContext.Describe(path)}: output padding {outputPadding} along {axis} is not below the stride {stride} and exceeds the end padding {padEnd}; " +
            "ONNX Runtime's ConvTranspose cannot express it.");
    }

    public override ImportedLayer Import(OnnxNodeReader n)
    {
        var w = n.Constant(1);
        if (w.Rank != 4) throw new NotSupportedException($"{n.What}: only 2-D transposed convolution is read (weight [{w.ShapeString}]).");
        int group = (int)n.Int("group", 1);
        var k = n.Pair("kernel_shape", (w.Shape[2], w.Shape[3]));
        var s = n.Pair("strides", (1, 1));
        var d = n.Pair("dilations", (1, 1));
        var op = n.Pair("output_padding", (0, 0));
        string auto = n.String("auto_pad", "NOTSET");
        if (auto is not ("NOTSET" or "VALID"))
            throw new NotSupportedException($"{n.What}: auto_pad {auto} is not supported; write explicit pads.");
        var p = auto == "VALID" ? null : n.Ints("pads");
        if (p is not null && p.Length != 4) throw new NotSupportedException($"{n.What}: pads must have 4 entries; got [{string.Join(", ", p)}].");
        var pad = p is null ? Padding.Explicit(0, 0, 0, 0) : Padding.Explicit((int)p[0], (int)p[1], (int)p[2], (int)p[3]);
        bool hasBias = n.HasInput(2);
        var conv = new ConvTranspose2d(w.Shape[0], w.Shape[1] * group, k, s, pad, op, d, group, hasBias);
        if (n.Ints("output_shape") is { } wanted)
        {
            var got = conv.OutputShape(n.Shape);
            if (wanted.Length < 2 || wanted[^2] != got[2] || wanted[^1] != got[3])
                throw new NotSupportedException($"{n.What}: output_shape [{string.Join(", ", wanted)}] differs from the {got[2]}x{got[3]} the pads give; write explicit pads.");
        }
        w.Span.CopyTo(conv.Weight.Value.Span);
        if (hasBias) n.CopyExact(n.Constant(2), conv.Bias!.Value);
        return n.Single(conv);
    }
}
