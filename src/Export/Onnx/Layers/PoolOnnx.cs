using MLConv.Training.Kernels;
using MLConv.Training.Layers;
using Onnx;
using A = MLConv.Export.Onnx.OnnxGraphBuilder;

namespace MLConv.Export.Onnx.Layers;

/// <summary>MaxPool2d ⇄ MaxPool (ceil_mode and dilations from opset 10).</summary>
internal sealed class MaxPool2dOnnx : OnnxLayerMapping<MaxPool2d>
{
    public override IReadOnlyList<string> Imports => ["MaxPool"];

    protected override (int Opset, string Why) RequiredOpset(MaxPool2d p, string where) => PoolOnnx.RequiredOpset(p);

    protected override string Export(MaxPool2d p, OnnxExportContext context, string path, IReadOnlyList<string> inputs) =>
        PoolOnnx.Emit("MaxPool", p, context, path, inputs[0], context.ShapeOf(inputs[0]));

    public override ImportedLayer Import(OnnxNodeReader n)
    {
        var (k, s, d, pad, ceil) = PoolOnnx.Read(n);
        if (n.Int("storage_order", 0) != 0) throw new NotSupportedException($"{n.What}: storage_order 1 is not supported.");
        return n.Single(new MaxPool2d(k, s, pad, d, ceil));
    }
}

/// <summary>MinPool2d → Neg, MaxPool, Neg (min = −max(−x)); nothing in ONNX reads back into it.</summary>
internal sealed class MinPool2dOnnx : OnnxLayerMapping<MinPool2d>
{
    protected override (int Opset, string Why) RequiredOpset(MinPool2d p, string where) => PoolOnnx.RequiredOpset(p);

    protected override string Export(MinPool2d p, OnnxExportContext context, string path, IReadOnlyList<string> inputs)
    {
        var b = context.Builder;
        string why = $"{p}: min = -max(-x)";
        return b.Node("Neg", path, why, [PoolOnnx.Emit("MaxPool", p, context, path, b.Node("Neg", path, why, [inputs[0]]), context.ShapeOf(inputs[0]))]);
    }
}

/// <summary>AvgPool2d ⇄ AveragePool; count_include_pad is always written (ONNX defaults to 0, PyTorch and MLConv to 1).</summary>
internal sealed class AvgPool2dOnnx : OnnxLayerMapping<AvgPool2d>
{
    public override IReadOnlyList<string> Imports => ["AveragePool"];

    protected override (int Opset, string Why) RequiredOpset(AvgPool2d p, string where) =>
        p.CeilMode && p.CountIncludePad
            ? (19, "ceil_mode with count_include_pad (the divisor of a window running past the padding is pinned down from AveragePool-19)")
            : PoolOnnx.RequiredOpset(p);

    protected override string Export(AvgPool2d p, OnnxExportContext context, string path, IReadOnlyList<string> inputs) =>
        PoolOnnx.Emit("AveragePool", p, context, path, inputs[0], context.ShapeOf(inputs[0]));

    public override ImportedLayer Import(OnnxNodeReader n)
    {
        var (k, s, d, pad, ceil) = PoolOnnx.Read(n);
        if (d != (Size2)1) throw new NotSupportedException($"{n.What}: AvgPool2d has no dilation.");
        var pool = new AvgPool2d(k, s, pad, ceil, n.Int("count_include_pad", 0) != 0);
        // A window over the whole unpadded map (CNTK's and Caffe's global pool) may read as global pooling: the same at this size, and size-free.
        bool whole = n.Shape is [_, _, var h, var w] && pad.Equals(Padding.Explicit(0, 0, 0, 0)) && k == (Size2)(h, w);
        return n.Single(n.Options.WholeWindowPoolingAsGlobal && whole ? new GlobalAvgPool2d() : pool);
    }
}

/// <summary>What the pooling mappings share: the opset rule, the attributes written and read.</summary>
internal static class PoolOnnx
{
    public static (int, string) RequiredOpset(Pool2dLayer p) =>
        p.CeilMode ? (10, "ceil_mode (MaxPool/AveragePool-10)")
        : p.Dilation != (Size2)1 ? (10, "pooling dilations (MaxPool-10)")
        : (OnnxVersions.MinOpset, "");

    /// <summary>
    /// The pooling node. ONNX's shape inference counts a last ceil-mode window that starts in the end padding, which
    /// PyTorch, MLConv and ONNX Runtime's kernel drop, so such a node would declare one output more than ONNX Runtime
    /// computes ("Error merging shape info for output"). When the input size is known (<paramref name="inputShape"/>) and
    /// that happens, the node is written in floor mode with the end padding that gives exactly MLConv's windows: less
    /// padding than before on that axis (so count_include_pad's divisor is unchanged), and on the other axis padding that
    /// only completes a clipped last window (−∞ for max pooling, uncounted for average pooling without count_include_pad).
    /// Left as ceil mode (ONNX Runtime warns; its kernel still computes MLConv's values and shape): a dilated window whose
    /// floor-mode end padding would exceed half the kernel, and count_include_pad averaging that would need more end padding.
    /// </summary>
    public static string Emit(string op, Pool2dLayer p, OnnxExportContext context, string path, string x, int[]? inputShape)
    {
        var g = p.Geometry;
        int padBottom = g.PadBottom, padRight = g.PadRight;
        bool ceil = p.CeilMode;
        if (ceil && inputShape is [_, _, int h, int w])
        {
            var (oh, ow) = g.OutputSize(h, w, ceilMode: true);
            int needBottom = Math.Max(0, (oh - 1) * g.StrideH + g.EffectiveKernelH - h - g.PadTop);
            int needRight = Math.Max(0, (ow - 1) * g.StrideW + g.EffectiveKernelW - w - g.PadLeft);
            bool disagree = OnnxCeilExtent(h, g.EffectiveKernelH, g.StrideH, g.PadTop + g.PadBottom) != oh
                || OnnxCeilExtent(w, g.EffectiveKernelW, g.StrideW, g.PadLeft + g.PadRight) != ow;
            bool divisorCountsPadding = p.Mode == PoolMode.Average && p.CountIncludePad;
            bool Fits(int need, int pad, int kernel) => need <= (divisorCountsPadding ? pad : Math.Max(pad, kernel / 2));
            if (disagree && Fits(needBottom, g.PadBottom, g.KernelH) && Fits(needRight, g.PadRight, g.KernelW))
                (padBottom, padRight, ceil) = (needBottom, needRight, false);
        }
        List<AttributeProto> attrs =
        [
            A.Ints("kernel_shape", g.KernelH, g.KernelW),
            A.Ints("strides", g.StrideH, g.StrideW),
            A.Ints("pads", g.PadTop, g.PadLeft, padBottom, padRight),
        ];
        // ceil_mode and MaxPool's dilations arrived in opset 10; RequiredOpset refused non-defaults below it.
        if (context.Opset >= 10)
        {
            attrs.Add(A.Int("ceil_mode", ceil ? 1 : 0));
            if (op == "MaxPool") attrs.Add(A.Ints("dilations", g.DilationH, g.DilationW));
        }
        if (p.Mode == PoolMode.Average) attrs.Add(A.Int("count_include_pad", p.CountIncludePad ? 1 : 0));
        return context.Builder.Node(op, path, p.ToString(), [x], [.. attrs]);
    }

    /// <summary>The output extent ONNX's shape inference gives in ceil mode: ceil((in + pads − effective kernel) / stride) + 1, no window dropped.</summary>
    private static int OnnxCeilExtent(int input, int effectiveKernel, int stride, int pads)
    {
        int span = input + pads - effectiveKernel;
        return span < 0 ? 0 : (span + stride - 1) / stride + 1;
    }

    public static (Size2 K, Size2 S, Size2 D, Padding Pad, bool Ceil) Read(OnnxNodeReader n)
    {
        var k = n.Pair("kernel_shape", null);
        var s = n.Pair("strides", (1, 1));
        var d = n.Pair("dilations", (1, 1));
        bool ceil = n.Int("ceil_mode", 0) != 0;
        return (k, s, d, n.Pads(k, s, d, ceil), ceil);
    }
}
