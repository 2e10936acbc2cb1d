using System.Text.Json.Nodes;
using MLConv.Training.Kernels;
using MLConv.Training.Tensors;

namespace MLConv.Training.Layers;

/// <summary>
/// Shared body of <see cref="MaxPool2d"/>, <see cref="MinPool2d"/> and <see cref="AvgPool2d"/>:
/// they differ only in the <see cref="PoolMode"/> handed to the one <see cref="Pool2d"/> kernel.
/// Stride defaults to the kernel size, as in PyTorch. Padding may be at most half the kernel.
/// </summary>
public abstract class Pool2dLayer : Layer
{
    private Tensor? _y, _dx;
    private int[] _arg = [];
    private Saved? _saved;

    /// <summary>What backward reads, kept by the last forward: x, y, and for max/min the flat index each output took (null after an inference forward: found by backward).</summary>
    private readonly record struct Saved(Tensor X, Tensor Y, int[]? ArgIndex);

    private protected Pool2dLayer(PoolMode mode, Size2 kernelSize, Size2? stride, Padding padding, Size2? dilation,
        bool ceilMode, bool countIncludePad)
    {
        var s = stride ?? kernelSize;
        var d = dilation ?? 1;
        var p = padding.Resolve(kernelSize, s, d);
        Geometry = new Window2d(kernelSize.H, kernelSize.W, s.H, s.W, p.Top, p.Left, p.Bottom, p.Right, d.H, d.W);
        Geometry.Validate();
        if (2 * Math.Max(p.Top, p.Bottom) > kernelSize.H || 2 * Math.Max(p.Left, p.Right) > kernelSize.W)
            throw new ArgumentException($"padding ({p}) must be at most half the kernel size ({kernelSize}).", nameof(padding));
        Mode = mode;
        CeilMode = ceilMode;
        CountIncludePad = countIncludePad;
    }

    /// <summary>Max, min or average.</summary>
    public PoolMode Mode { get; }
    /// <summary>Kernel, stride (default: the kernel), resolved padding and dilation.</summary>
    public Window2d Geometry { get; }
    /// <summary>Round the output size up rather than down (PyTorch ceil_mode; a window must still start inside the input or its left padding).</summary>
    public bool CeilMode { get; }
    /// <summary>Average pooling: divide by the whole window including padding (true) or by the cells inside the input only (false).</summary>
    public bool CountIncludePad { get; }
    /// <summary>Window (kh, kw).</summary>
    public Size2 KernelSize => (Geometry.KernelH, Geometry.KernelW);
    /// <summary>Stride (sh, sw).</summary>
    public Size2 Stride => (Geometry.StrideH, Geometry.StrideW);
    /// <summary>Dilation (dh, dw).</summary>
    public Size2 Dilation => (Geometry.DilationH, Geometry.DilationW);

    /// <inheritdoc/>
    public override int[] OutputShape(int[] inputShape)
    {
        CheckRank(inputShape, 4, TypeName);
        var (oh, ow) = Geometry.CheckedOutputSize(inputShape[2], inputShape[3], "x", CeilMode);
        return [inputShape[0], inputShape[1], oh, ow];
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor x, bool training)
    {
        CheckRank(x, 4, TypeName);
        var shape = OutputShape(x.ShapeArray);
        var y = Tensor.Reuse(ref _y, shape);
        if (!training && Mode != PoolMode.Average)
        {
            // Inference: the values only; a backward that follows finds the arg indices then (ArgIndex null).
            Pool2d.ForwardValues(Mode, x.Data, x.N * x.C, x.H, x.W, Geometry, y.Data, shape[2], shape[3]);
            _saved = new Saved(x, y, null);
            return y;
        }
        if (Mode != PoolMode.Average && _arg.Length < y.Length) _arg = new int[y.Length];
        Pool2d.Forward(Mode, x.Data, x.N * x.C, x.H, x.W, Geometry, CountIncludePad, y.Data, shape[2], shape[3], _arg);
        _saved = new Saved(x, y, _arg);
        return y;
    }

    /// <inheritdoc/>
    public override Tensor Backward(Tensor dy)
    {
        var (x, y, arg) = _saved ?? throw BackwardBeforeForward();
        CheckSameShape(dy, y, TypeName);
        if (arg is null)
        {
            // After an inference forward: the selecting pass again, for the arg indices (y gets the same values).
            if (_arg.Length < y.Length) _arg = new int[y.Length];
            Pool2d.Forward(Mode, x.Data, x.N * x.C, x.H, x.W, Geometry, CountIncludePad, y.Data, y.H, y.W, _arg);
            _saved = new Saved(x, y, arg = _arg);
        }
        var dx = Tensor.Reuse(ref _dx, x.ShapeArray);
        dx.Clear();
        Pool2d.Backward(Mode, dy.Data, x.N * x.C, x.H, x.W, Geometry, CountIncludePad, dy.H, dy.W, arg, dx.Data);
        return dx;
    }

    /// <inheritdoc/>
    public override long MultiplyAccumulates(int[] inputShape)
    {
        var o = OutputShape(inputShape);
        return Mode == PoolMode.Average ? (long)o[0] * o[1] * o[2] * o[3] * Geometry.KernelH * Geometry.KernelW : 0;
    }

    /// <inheritdoc/>
    public override (Size2 Kernel, Size2 Stride) SpatialWindow(int[] inputShape) =>
        ((Geometry.EffectiveKernelH, Geometry.EffectiveKernelW), Stride);

    /// <inheritdoc/>
    public override JsonObject ToSpec()
    {
        var o = new JsonObject
        {
            ["type"] = TypeName,
            ["kernelSize"] = Spec.Pair(KernelSize),
            ["stride"] = Spec.Pair(Stride),
            ["padding"] = Spec.Pad(Geometry),
            ["ceilMode"] = CeilMode,
        };
        if (Mode == PoolMode.Average) o["countIncludePad"] = CountIncludePad;
        else o["dilation"] = Spec.Pair(Dilation);
        return o;
    }

    /// <inheritdoc/>
    public override string ToString() =>
        $"{TypeName}(kernel_size={KernelSize}, stride={Stride}, padding=({Geometry.PadTop}, {Geometry.PadLeft}, {Geometry.PadBottom}, {Geometry.PadRight})" +
        (Dilation != (Size2)1 ? $", dilation={Dilation}" : "") + (CeilMode ? ", ceil_mode=True" : "") +
        (Mode == PoolMode.Average && !CountIncludePad ? ", count_include_pad=False" : "") + ")";
}

/// <summary>Max pooling; backward routes dY to the arg-max (first on ties).</summary>
public sealed class MaxPool2d(Size2 kernelSize, Size2? stride = null, Padding padding = default, Size2? dilation = null, bool ceilMode = false)
    : Pool2dLayer(PoolMode.Max, kernelSize, stride, padding, dilation, ceilMode, false)
{
    /// <summary>Rebuilds a <see cref="MaxPool2d"/> from <paramref name="spec"/>, the JSON its <see cref="Layer.ToSpec"/> writes (<see cref="LayerFactory"/> calls this).</summary>
    public static MaxPool2d FromSpec(JsonObject spec) =>
        new(Spec.Pair(spec, "kernelSize"), Spec.Pair(spec, "stride"), Spec.Pad(spec, "padding"), Spec.Pair(spec, "dilation"), Spec.Bool(spec, "ceilMode"));
}

/// <summary>Min pooling; backward routes dY to the arg-min (first on ties). Exported to ONNX as Neg → MaxPool → Neg.</summary>
public sealed class MinPool2d(Size2 kernelSize, Size2? stride = null, Padding padding = default, Size2? dilation = null, bool ceilMode = false)
    : Pool2dLayer(PoolMode.Min, kernelSize, stride, padding, dilation, ceilMode, false)
{
    /// <summary>Rebuilds a <see cref="MinPool2d"/> from <paramref name="spec"/>, the JSON its <see cref="Layer.ToSpec"/> writes (<see cref="LayerFactory"/> calls this).</summary>
    public static MinPool2d FromSpec(JsonObject spec) =>
        new(Spec.Pair(spec, "kernelSize"), Spec.Pair(spec, "stride"), Spec.Pad(spec, "padding"), Spec.Pair(spec, "dilation"), Spec.Bool(spec, "ceilMode"));
}

/// <summary>Average pooling; <paramref name="countIncludePad"/> defaults to true, as in PyTorch (ONNX's default is false).</summary>
public sealed class AvgPool2d(Size2 kernelSize, Size2? stride = null, Padding padding = default, bool ceilMode = false, bool countIncludePad = true)
    : Pool2dLayer(PoolMode.Average, kernelSize, stride, padding, null, ceilMode, countIncludePad)
{
    /// <summary>Rebuilds a <see cref="AvgPool2d"/> from <paramref name="spec"/>, the JSON its <see cref="Layer.ToSpec"/> writes (<see cref="LayerFactory"/> calls this).</summary>
    public static AvgPool2d FromSpec(JsonObject spec) =>
        new(Spec.Pair(spec, "kernelSize"), Spec.Pair(spec, "stride"), Spec.Pad(spec, "padding"), Spec.Bool(spec, "ceilMode"), Spec.Bool(spec, "countIncludePad"));
}
