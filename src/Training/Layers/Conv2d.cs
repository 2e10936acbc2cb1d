using System.Buffers;
using System.Text.Json.Nodes;
using MLConv.Training.Init;
using MLConv.Training.Kernels;
using MLConv.Training.Tensors;

namespace MLConv.Training.Layers;

/// <summary>
/// 2-D convolution (cross-correlation) by im2col + GEMM, with groups.
/// For group g, with the columns of the whole batch side by side (L = N·Hout·Wout):
///   forward   cols = im2col(x),  Y_g = W_g · cols_g + b
///   backward  dW_g += dY_g · cols_gᵀ,   db += Σ dY,   dX = col2im(W_gᵀ · dY_g)
/// (the last is the seeds' transposed convolution: the padded upstream gradient convolved with
/// the mirrored kernel). Weight shape [Cout, Cin/groups, kh, kw] as in PyTorch and ONNX.
/// groups = Cin is depthwise (Cout = k·Cin gives a channel multiplier k).
/// </summary>
public sealed class Conv2d : Layer
{
    private readonly Parameter _weight;
    private readonly Parameter? _bias;
    private Tensor? _x, _y;
    private float[] _cols = [];
    private Tensor? _dx;

    public Conv2d(int inChannels, int outChannels, Size2 kernelSize, Size2? stride = null, Padding padding = default,
        Size2? dilation = null, int groups = 1, bool bias = true, Random? rng = null)
    {
        if (inChannels < 1) throw new ArgumentOutOfRangeException(nameof(inChannels), inChannels, "inChannels must be >= 1.");
        if (outChannels < 1) throw new ArgumentOutOfRangeException(nameof(outChannels), outChannels, "outChannels must be >= 1.");
        if (groups < 1) throw new ArgumentOutOfRangeException(nameof(groups), groups, "groups must be >= 1.");
        if (inChannels % groups != 0 || outChannels % groups != 0)
            throw new ArgumentException($"groups ({groups}) must divide both inChannels ({inChannels}) and outChannels ({outChannels}).", nameof(groups));
        var s = stride ?? 1;
        var d = dilation ?? 1;
        var window = new Window2d(kernelSize.H, kernelSize.W, s.H, s.W, 0, 0, 0, 0, d.H, d.W);
        window.Validate();
        var p = padding.Resolve(kernelSize, s, d);
        Geometry = window with { PadTop = p.Top, PadLeft = p.Left, PadBottom = p.Bottom, PadRight = p.Right };
        Geometry.Validate();

        InChannels = inChannels;
        OutChannels = outChannels;
        Groups = groups;
        PaddingSpec = padding;
        _weight = new Parameter("weight", new Tensor(outChannels, inChannels / groups, kernelSize.H, kernelSize.W));
        if (bias) _bias = new Parameter("bias", new Tensor(outChannels)) { Decay = false };
        Reset(rng ?? new Random(0));
    }

    public int InChannels { get; }
    public int OutChannels { get; }
    public int Groups { get; }
    public Window2d Geometry { get; }
    public Padding PaddingSpec { get; }
    public Size2 KernelSize => (Geometry.KernelH, Geometry.KernelW);
    public Size2 Stride => (Geometry.StrideH, Geometry.StrideW);
    public Size2 Dilation => (Geometry.DilationH, Geometry.DilationW);
    public Parameter Weight => _weight;
    public Parameter? Bias => _bias;
    public bool HasBias => _bias is not null;

    /// <summary>groups = inChannels &gt; 1: each output channel reads one input channel; runs the direct <see cref="DepthwiseConv"/> kernel.</summary>
    public bool IsDepthwise => Groups == InChannels && Groups > 1;

    public override IReadOnlyList<Parameter> Parameters => _bias is null ? [_weight] : [_weight, _bias];

    public override void Reset(Random rng)
    {
        Initializers.HeNormal(_weight.Value.Span, InChannels / Groups * Geometry.KernelH * Geometry.KernelW, rng);
        _bias?.Value.Clear();
    }

    public override int[] OutputShape(int[] inputShape)
    {
        CheckRank(inputShape, 4, "Conv2d");
        if (inputShape[1] != InChannels)
            throw new ArgumentException($"Conv2d expects {InChannels} input channels; got an input of shape [{string.Join(", ", inputShape)}].", "x");
        var (oh, ow) = Geometry.CheckedOutputSize(inputShape[2], inputShape[3], "x");
        return [inputShape[0], OutChannels, oh, ow];
    }

    public override Tensor Forward(Tensor x, bool training)
    {
        CheckRank(x, 4, "Conv2d");
        var outShape = OutputShape(x.ShapeArray);
        int n = x.N, h = x.H, w = x.W, oh = outShape[2], ow = outShape[3];
        int plane = oh * ow, l = n * plane;
        int kg = InChannels / Groups * Geometry.KernelH * Geometry.KernelW, mg = OutChannels / Groups;
        if (IsDepthwise)
        {
            var yd = Tensor.Reuse(ref _y, outShape);
            DepthwiseConv.Forward(x.Data, _weight.Value.Data, _bias?.Value.Data, yd.Data, n, InChannels, h, w, OutChannels / InChannels, Geometry, oh, ow);
            _x = x;
            return yd;
        }
        int rows = kg * Groups;
        if (_cols.Length < rows * l) _cols = new float[rows * l];

        var g = Geometry;
        int inC = InChannels;
        float[] cols = _cols, xd = x.Data;
        Parallelism.For(n, (long)rows * plane, i =>
            Im2Col.Run(xd.AsSpan(i * inC * h * w, inC * h * w), inC, h, w, g, oh, ow, cols.AsSpan(i * plane), l));

        var yCols = ArrayPool<float>.Shared.Rent(OutChannels * l);
        try
        {
            for (int gi = 0; gi < Groups; gi++)
                Gemm.Multiply(false, false, mg, l, kg, 1f,
                    _weight.Value.Span.Slice(gi * mg * kg), kg, cols.AsSpan(gi * kg * l), l,
                    0f, yCols.AsSpan(gi * mg * l), l);
            var y = Tensor.Reuse(ref _y, outShape);
            var bias = _bias?.Value.Data;
            for (int i = 0; i < n; i++)
            for (int co = 0; co < OutChannels; co++)
            {
                var src = yCols.AsSpan(co * l + i * plane, plane);
                var dst = y.Data.AsSpan((i * OutChannels + co) * plane, plane);
                if (bias is null) src.CopyTo(dst);
                else System.Numerics.Tensors.TensorPrimitives.Add(src, bias[co], dst);
            }
            _x = x;
            return y;
        }
        finally { ArrayPool<float>.Shared.Return(yCols); }
    }

    public override Tensor Backward(Tensor dy)
    {
        CheckSameShape(dy, _y, "Conv2d");
        var x = _x!;
        int n = x.N, h = x.H, w = x.W, oh = dy.H, ow = dy.W;
        int plane = oh * ow, l = n * plane;
        int kg = InChannels / Groups * Geometry.KernelH * Geometry.KernelW, mg = OutChannels / Groups;
        if (IsDepthwise)
        {
            var dxd = Tensor.Reuse(ref _dx, x.ShapeArray);
            DepthwiseConv.Backward(x.Data, _weight.Value.Data, dy.Data, _weight.Grad.Data, _bias?.Grad.Data,
                ComputeInputGradient ? dxd.Data : null, n, InChannels, h, w, OutChannels / InChannels, Geometry, oh, ow);
            return dxd;
        }

        // dY as a (Cout × L) matrix, the layout of the forward GEMM's output.
        var dyCols = ArrayPool<float>.Shared.Rent(OutChannels * l);
        try
        {
            for (int i = 0; i < n; i++)
            for (int co = 0; co < OutChannels; co++)
                dy.Data.AsSpan((i * OutChannels + co) * plane, plane).CopyTo(dyCols.AsSpan(co * l + i * plane, plane));

            if (_bias is not null)
            {
                var db = _bias.Grad.Data;
                for (int co = 0; co < OutChannels; co++)
                    db[co] += System.Numerics.Tensors.TensorPrimitives.Sum(dyCols.AsSpan(co * l, l));
            }

            for (int gi = 0; gi < Groups; gi++)
                Gemm.Multiply(false, true, mg, kg, l, 1f,
                    dyCols.AsSpan(gi * mg * l), l, _cols.AsSpan(gi * kg * l), l,
                    1f, _weight.Grad.Span.Slice(gi * mg * kg), kg);

            if (!ComputeInputGradient) return Tensor.Reuse(ref _dx, x.ShapeArray);

            // dCols overwrites the cached columns: the next forward recomputes them.
            float[] dCols = _cols;
            for (int gi = 0; gi < Groups; gi++)
                Gemm.Multiply(true, false, kg, l, mg, 1f,
                    _weight.Value.Span.Slice(gi * mg * kg), kg, dyCols.AsSpan(gi * mg * l), l,
                    0f, dCols.AsSpan(gi * kg * l), l);

            var dx = Tensor.Reuse(ref _dx, x.ShapeArray);
            dx.Clear();
            var g = Geometry;
            int inC = InChannels;
            float[] dxd = dx.Data;
            Parallelism.For(n, (long)kg * Groups * plane, i =>
                Col2Im.Run(dCols.AsSpan(i * plane), l, inC, h, w, g, oh, ow, dxd.AsSpan(i * inC * h * w, inC * h * w)));
            return dx;
        }
        finally { ArrayPool<float>.Shared.Return(dyCols); }
    }

    public override long MultiplyAccumulates(int[] inputShape)
    {
        var o = OutputShape(inputShape);
        return (long)o[0] * o[1] * o[2] * o[3] * (InChannels / Groups) * Geometry.KernelH * Geometry.KernelW;
    }

    public override (Size2 Kernel, Size2 Stride) SpatialWindow =>
        ((Geometry.EffectiveKernelH, Geometry.EffectiveKernelW), Stride);

    public override JsonObject ToSpec() => new()
    {
        ["type"] = TypeName,
        ["inChannels"] = InChannels,
        ["outChannels"] = OutChannels,
        ["kernelSize"] = Spec.Pair(KernelSize),
        ["stride"] = Spec.Pair(Stride),
        ["padding"] = Spec.Pad(Geometry),
        ["dilation"] = Spec.Pair(Dilation),
        ["groups"] = Groups,
        ["bias"] = HasBias,
    };

    public override string ToString() =>
        $"Conv2d({InChannels}, {OutChannels}, kernel_size={KernelSize}, stride={Stride}, padding={PaddingSpec}" +
        (Dilation != (Size2)1 ? $", dilation={Dilation}" : "") + (Groups != 1 ? $", groups={Groups}" : "") + (HasBias ? "" : ", bias=False") + ")";
}
