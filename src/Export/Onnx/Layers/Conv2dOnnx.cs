using MLConv.Training.Layers;
using A = MLConv.Export.Onnx.OnnxGraphBuilder;

namespace MLConv.Export.Onnx.Layers;

/// <summary>Conv2d ⇄ Conv (pads [top, left, bottom, right]; weight [out, in/groups, kH, kW]); a following BatchNorm2d may be folded in (<see cref="SequentialOnnx"/>).</summary>
internal sealed class Conv2dOnnx : OnnxLayerMapping<Conv2d>
{
    public override IReadOnlyList<string> Imports => ["Conv"];

    protected override string Export(Conv2d c, OnnxExportContext context, string path, IReadOnlyList<string> inputs) =>
        Export(c, null, context, path, inputs[0]);

    /// <summary>The convolution, with <paramref name="bn"/> folded into its weights and bias when given.</summary>
    internal static string Export(Conv2d c, BatchNorm2d? bn, OnnxExportContext context, string path, string x)
    {
        var w = c.Weight.Value.Span.ToArray();
        float[]? bias = c.Bias?.Value.Span.ToArray();
        if (bn is not null)
        {
            // W' = W·s, b' = (b − μ)·s + β with s = γ/√(σ² + ε), per output channel, in double.
            int per = w.Length / c.OutChannels;
            bias ??= new float[c.OutChannels];
            for (int o = 0; o < c.OutChannels; o++)
            {
                double s = bn.Gamma.Value[o] / Math.Sqrt(bn.RunningVar[o] + bn.Eps);
                for (int k = 0; k < per; k++) w[o * per + k] = (float)(w[o * per + k] * s);
                bias[o] = (float)((bias[o] - (double)bn.RunningMean[o]) * s + bn.Beta.Value[o]);
            }
        }
        var g = c.Geometry;
        var b = context.Builder;
        string wName = b.Initializer(OnnxExportContext.Join(path, "weight"), w, c.OutChannels, c.InChannels / c.Groups, g.KernelH, g.KernelW);
        List<string> ins = [x, wName];
        if (bias is not null) ins.Add(b.Initializer(OnnxExportContext.Join(path, "bias"), bias, c.OutChannels));
        return b.Node("Conv", path, bn is null ? c.ToString() : $"{c} with {bn} folded in", ins,
            A.Ints("kernel_shape", g.KernelH, g.KernelW),
            A.Ints("strides", g.StrideH, g.StrideW),
            A.Ints("pads", g.PadTop, g.PadLeft, g.PadBottom, g.PadRight),
            A.Ints("dilations", g.DilationH, g.DilationW),
            A.Int("group", c.Groups));
    }

    public override ImportedLayer Import(OnnxNodeReader n)
    {
        var w = n.Constant(1);
        if (w.Rank != 4) throw new NotSupportedException($"{n.What}: only 2-D convolution is read (weight [{w.ShapeString}]).");
        int group = (int)n.Int("group", 1);
        var k = n.Pair("kernel_shape", (w.Shape[2], w.Shape[3]));
        var s = n.Pair("strides", (1, 1));
        var d = n.Pair("dilations", (1, 1));
        var pad = n.Pads(k, s, d, ceil: false);
        bool hasBias = n.HasInput(2);
        var conv = new Conv2d(w.Shape[1] * group, w.Shape[0], k, s, pad, d, group, hasBias);
        w.Span.CopyTo(conv.Weight.Value.Span);
        if (hasBias) n.CopyExact(n.Constant(2), conv.Bias!.Value);
        return n.Single(conv);
    }
}
