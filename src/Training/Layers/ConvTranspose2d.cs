using System.Buffers;
using System.Text.Json.Nodes;
using MLConv.Training.Init;
using MLConv.Training.Kernels;
using MLConv.Training.Tensors;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace MLConv.Training.Layers;

/// <summary>
/// 2-D transposed convolution: the adjoint of the <see cref="Conv2d"/> with the same kernel, stride, padding, dilation and
/// groups, mapping that convolution's output size back to its input size (output_padding adds rows/columns at the end).
/// Per sample and group g (P = H·W input pixels, X_g: Cin/g × P, W_g: Cin/g × (Cout/g·kh·kw)):
///   forward   cols_g = W_gᵀ · X_g,  y = col2im(cols) + b
///   backward  dcols = im2col(dy),  dW_g += X_g · dcols_gᵀ,  db += Σ dy,  dX_g = W_g · dcols_g
/// Output size: out = (in − 1)·stride − padBegin − padEnd + dilation·(kernel − 1) + 1 + outputPadding.
/// Weight shape [Cin, Cout/groups, kh, kw] as in PyTorch and ONNX.
/// </summary>
public sealed class ConvTranspose2d : Layer
{
    private readonly Parameter _weight;
    private readonly Parameter? _bias;
    private Tensor? _x, _y, _dx;

    /// <summary>A 2-D transposed convolution; the kernel is drawn He-normal from <paramref name="rng"/> (default: seed 0) and the bias is zero.</summary>
    /// <param name="inChannels">Input channels Cin (≥ 1).</param>
    /// <param name="outChannels">Output channels Cout (≥ 1).</param>
    /// <param name="kernelSize">Kernel (kh, kw).</param>
    /// <param name="stride">Stride; default 1.</param>
    /// <param name="padding">Explicit padding removed from the output (not <see cref="Padding.Same"/>); default none.</param>
    /// <param name="outputPadding">Extra rows/columns at the bottom/right, ≥ 0 and smaller than the stride or the dilation; default 0.</param>
    /// <param name="dilation">Dilation; default 1.</param>
    /// <param name="groups">Groups (≥ 1, dividing Cin and Cout).</param>
    /// <param name="bias">Whether to add a learnable bias.</param>
    /// <param name="rng">Initialisation randomness; null for <c>new Random(0)</c>.</param>
    /// <exception cref="ArgumentOutOfRangeException">A channel count or groups is below 1.</exception>
    /// <exception cref="ArgumentException">groups does not divide both channel counts, padding is Same, outputPadding is out of range, or the window is invalid.</exception>
    public ConvTranspose2d(int inChannels, int outChannels, Size2 kernelSize, Size2? stride = null, Padding padding = default,
        Size2? outputPadding = null, Size2? dilation = null, int groups = 1, bool bias = true, Random? rng = null)
    {
        if (inChannels < 1) throw new ArgumentOutOfRangeException(nameof(inChannels), inChannels, "inChannels must be >= 1.");
        if (outChannels < 1) throw new ArgumentOutOfRangeException(nameof(outChannels), outChannels, "outChannels must be >= 1.");
        if (groups < 1) throw new ArgumentOutOfRangeException(nameof(groups), groups, "groups must be >= 1.");
        if (inChannels % groups != 0 || outChannels % groups != 0)
            throw new ArgumentException($"groups ({groups}) must divide both inChannels ({inChannels}) and outChannels ({outChannels}).", nameof(groups));
        if (padding.IsSame) throw new ArgumentException("ConvTranspose2d takes explicit padding only.", nameof(padding));
        var s = stride ?? 1;
        var d = dilation ?? 1;
        var op = outputPadding ?? 0;
        Geometry = new Window2d(kernelSize.H, kernelSize.W, s.H, s.W, padding.Top, padding.Left, padding.Bottom, padding.Right, d.H, d.W);
        Geometry.Validate();
        // PyTorch's rule: the extra rows must be fewer than the stride or the dilation, else they would not be reachable by a window.
        if (op.H < 0 || op.W < 0 || op.H >= Math.Max(s.H, d.H) || op.W >= Math.Max(s.W, d.W))
            throw new ArgumentException($"outputPadding {op} must be >= 0 and smaller than the stride {s} or the dilation {d}.", nameof(outputPadding));
        InChannels = inChannels;
        OutChannels = outChannels;
        Groups = groups;
        OutputPadding = op;
        _weight = new Parameter("weight", new Tensor(inChannels, outChannels / groups, kernelSize.H, kernelSize.W));
        if (bias) _bias = new Parameter("bias", new Tensor(outChannels)) { Decay = false };
        Reset(rng ?? new Random(0));
    }

    /// <summary>Input channels Cin.</summary>
    public int InChannels { get; }
    /// <summary>Output channels Cout.</summary>
    public int OutChannels { get; }
    /// <summary>Groups: Cin and Cout are split into this many independent convolutions.</summary>
    public int Groups { get; }
    /// <summary>Geometry of the convolution this layer is the adjoint of (its input is this layer's output).</summary>
    public Window2d Geometry { get; }
    /// <summary>Extra rows and columns added at the bottom and right of the output.</summary>
    public Size2 OutputPadding { get; }
    /// <summary>Kernel (kh, kw).</summary>
    public Size2 KernelSize => (Geometry.KernelH, Geometry.KernelW);
    /// <summary>Stride (sh, sw).</summary>
    public Size2 Stride => (Geometry.StrideH, Geometry.StrideW);
    /// <summary>Dilation (dh, dw).</summary>
    public Size2 Dilation => (Geometry.DilationH, Geometry.DilationW);
    /// <summary>The kernel, [Cin, Cout/groups, kh, kw] ("weight"; He-normal initialised).</summary>
    public Parameter Weight => _weight;
    /// <summary>The bias, [Cout] ("bias"; zero at first), or null without one.</summary>
    public Parameter? Bias => _bias;
    /// <summary>True when the layer has a bias.</summary>
    public bool HasBias => _bias is not null;

    /// <inheritdoc/>
    public override IReadOnlyList<Parameter> Parameters => _bias is null ? [_weight] : [_weight, _bias];

    /// <inheritdoc/>
    public override void Reset(Random rng)
    {
        Initializers.HeNormal(_weight.Value.Span, OutChannels / Groups * Geometry.KernelH * Geometry.KernelW, rng);
        _bias?.Value.Clear();
    }

    /// <inheritdoc/>
    public override int[] OutputShape(int[] inputShape)
    {
        CheckRank(inputShape, 4, "ConvTranspose2d");
        if (inputShape[1] != InChannels)
            throw new ArgumentException($"ConvTranspose2d expects {InChannels} input channels; got an input of shape [{string.Join(", ", inputShape)}].", "x");
        var g = Geometry;
        int oh = (inputShape[2] - 1) * g.StrideH - g.PadTop - g.PadBottom + g.EffectiveKernelH + OutputPadding.H;
        int ow = (inputShape[3] - 1) * g.StrideW - g.PadLeft - g.PadRight + g.EffectiveKernelW + OutputPadding.W;
        if (inputShape[2] < 1 || inputShape[3] < 1 || oh < 1 || ow < 1)
            throw new ArgumentException($"ConvTranspose2d: an input of {inputShape[2]}x{inputShape[3]} gives an empty output ({oh}x{ow}).", "x");
        return [inputShape[0], OutChannels, oh, ow];
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor x, bool training)
    {
        CheckRank(x, 4, "ConvTranspose2d");
        var y = Tensor.Reuse(ref _y, OutputShape(x.ShapeArray));
        _x = x;
        var s = new Shapes(this, x.H, x.W, y.H, y.W);
        float[] xd = x.Data, yd = y.Data, wd = _weight.Value.Data;
        var cols = ArrayPool<float>.Shared.Rent(s.Rows * s.P);
        try
        {
            for (int n = 0; n < x.N; n++)
            {
                for (int gi = 0; gi < Groups; gi++)
                    Gemm.Multiply(true, false, s.Mg, s.P, s.Kg, 1f, wd.AsSpan(gi * s.Kg * s.Mg), s.Mg,
                        xd.AsSpan((n * InChannels + gi * s.Kg) * s.P), s.P, 0f, cols.AsSpan(gi * s.Mg * s.P), s.P);
                var yn = yd.AsSpan(n * OutChannels * s.OutPlane, OutChannels * s.OutPlane);
                for (int co = 0; co < OutChannels; co++) yn.Slice(co * s.OutPlane, s.OutPlane).Fill(_bias?.Value[co] ?? 0f);
                Col2Im.Run(cols, s.P, OutChannels, y.H, y.W, Geometry, x.H, x.W, yn);
            }
        }
        finally { ArrayPool<float>.Shared.Return(cols); }
        return y;
    }

    /// <inheritdoc/>
    public override Tensor Backward(Tensor dy)
    {
        CheckSameShape(dy, _y, "ConvTranspose2d");
        var x = _x!;
        var dx = Tensor.Reuse(ref _dx, x.ShapeArray);
        var s = new Shapes(this, x.H, x.W, dy.H, dy.W);
        float[] xd = x.Data, dyd = dy.Data, dxd = dx.Data, wd = _weight.Value.Data, gw = _weight.Grad.Data;
        var cols = ArrayPool<float>.Shared.Rent(s.Rows * s.P);
        try
        {
            for (int n = 0; n < x.N; n++)
            {
                var dyn = dyd.AsSpan(n * OutChannels * s.OutPlane, OutChannels * s.OutPlane);
                if (_bias is not null)
                    for (int co = 0; co < OutChannels; co++) _bias.Grad[co] += TensorPrimitives.Sum(dyn.Slice(co * s.OutPlane, s.OutPlane));
                Im2Col.Run(dyn, OutChannels, dy.H, dy.W, Geometry, x.H, x.W, cols, s.P);
                for (int gi = 0; gi < Groups; gi++)
                {
                    var xg = xd.AsSpan((n * InChannels + gi * s.Kg) * s.P);
                    var cg = cols.AsSpan(gi * s.Mg * s.P);
                    Gemm.Multiply(false, true, s.Kg, s.Mg, s.P, 1f, xg, s.P, cg, s.P, 1f, gw.AsSpan(gi * s.Kg * s.Mg), s.Mg);
                    if (ComputeInputGradient)
                        Gemm.Multiply(false, false, s.Kg, s.P, s.Mg, 1f, wd.AsSpan(gi * s.Kg * s.Mg), s.Mg, cg, s.P,
                            0f, dxd.AsSpan((n * InChannels + gi * s.Kg) * s.P), s.P);
                }
            }
        }
        finally { ArrayPool<float>.Shared.Return(cols); }
        return dx;
    }

    /// <summary>GEMM sizes: P input pixels, Kg = Cin/groups, Mg = Cout/groups·kh·kw column rows per group, Rows = Mg·groups.</summary>
    private readonly struct Shapes(ConvTranspose2d c, int h, int w, int oh, int ow)
    {
        public readonly int P = h * w, OutPlane = oh * ow, Kg = c.InChannels / c.Groups,
            Mg = c.OutChannels / c.Groups * c.Geometry.KernelH * c.Geometry.KernelW, Rows = c.OutChannels * c.Geometry.KernelH * c.Geometry.KernelW;
    }

    /// <inheritdoc/>
    public override long MultiplyAccumulates(int[] inputShape) =>
        (long)inputShape[0] * InChannels * inputShape[2] * inputShape[3] * (OutChannels / Groups) * Geometry.KernelH * Geometry.KernelW;

    /// <summary>The kernel; an upsampling layer has no stride above 1 in receptive-field terms.</summary>
    public override (Size2 Kernel, Size2 Stride) SpatialWindow(int[] inputShape) =>
        ((Geometry.EffectiveKernelH, Geometry.EffectiveKernelW), 1);

    /// <inheritdoc/>
    public override JsonObject ToSpec() => new()
    {
        ["type"] = TypeName,
        ["inChannels"] = InChannels,
        ["outChannels"] = OutChannels,
        ["kernelSize"] = Spec.Pair(KernelSize),
        ["stride"] = Spec.Pair(Stride),
        ["padding"] = Spec.Pad(Geometry),
        ["outputPadding"] = Spec.Pair(OutputPadding),
        ["dilation"] = Spec.Pair(Dilation),
        ["groups"] = Groups,
        ["bias"] = HasBias,
    };

    /// <summary>Rebuilds a <see cref="ConvTranspose2d"/> from <paramref name="spec"/>, the JSON its <see cref="Layer.ToSpec"/> writes (<see cref="LayerFactory"/> calls this).</summary>
    public static ConvTranspose2d FromSpec(JsonObject spec) => new(Spec.Int(spec, "inChannels"), Spec.Int(spec, "outChannels"),
        Spec.Pair(spec, "kernelSize"), Spec.Pair(spec, "stride"), Spec.Pad(spec, "padding"), Spec.Pair(spec, "outputPadding"),
        Spec.Pair(spec, "dilation"), Spec.Int(spec, "groups"), Spec.Bool(spec, "bias"));

    /// <inheritdoc/>
    public override string ToString() =>
        $"ConvTranspose2d({InChannels}, {OutChannels}, kernel_size={KernelSize}, stride={Stride}, padding={Padding.Explicit(Geometry.PadTop, Geometry.PadLeft, Geometry.PadBottom, Geometry.PadRight)}" +
        (OutputPadding != (Size2)0 ? $", output_padding={OutputPadding}" : "") + (Dilation != (Size2)1 ? $", dilation={Dilation}" : "") +
        (Groups != 1 ? $", groups={Groups}" : "") + (HasBias ? "" : ", bias=False") + ")";
}
