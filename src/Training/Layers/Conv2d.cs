using System.Text.Json.Nodes;
using MLConv.Training.Init;
using MLConv.Training.Kernels;
using MLConv.Training.Tensors;

namespace MLConv.Training.Layers;

/// <summary>
/// 2-D convolution (cross-correlation) by im2col + GEMM (<see cref="ConvGemm"/>), with groups.
/// Per sample and group g (P = Hout·Wout output pixels):
///   forward   cols = im2col(x),  Y_g = W_g · cols_g + b                       (Y_g: Cout/g × P)
///   backward  dW_g += dY_g · cols_gᵀ,   db += Σ dY,   dX = col2im(W_gᵀ · dY_g)
/// (dX is the seeds' transposed convolution: the padded upstream gradient convolved with the mirrored kernel).
/// A 1x1 stride-1 unpadded convolution uses the image as its column matrix (no im2col). Weight shape
/// [Cout, Cin/groups, kh, kw] as in PyTorch and ONNX. groups = Cin is depthwise (Cout = k·Cin gives a channel
/// multiplier k) and runs the direct <see cref="DepthwiseConv"/> kernel. A 3x3 stride-1 ungrouped convolution with enough
/// channels runs its forward and dX through <see cref="Winograd"/> F(4×4, 3×3) instead (dW stays on im2col + GEMM).
/// </summary>
public sealed class Conv2d : Layer, IAbsorbsNext
{
    private readonly Parameter _weight;
    private readonly Parameter? _bias;
    private Tensor? _y, _dx;
    private Saved? _saved;
    private Fusion? _fusion;

    /// <summary>
    /// What an <see cref="InferencePlan"/> fused into this convolution for inference-mode forwards: the weights and bias
    /// with a batch norm folded in (<paramref name="Weight"/> null: the layer's own weights) and whether ReLU follows.
    /// </summary>
    private sealed record Fusion(float[]? Weight, float[]? Bias, bool Relu, BatchNorm2d? Norm, ReLU? Activation, ConvGemm.PackedWeights? Packed,
        Winograd.Weights? Transformed);

    /// <summary>What backward reads, kept by the last forward: the input (its columns are rebuilt) and the output.</summary>
    private readonly record struct Saved(Tensor X, Tensor Y);

    /// <summary>A 2-D convolution; the kernel is drawn He-normal from <paramref name="rng"/> (default: seed 0) and the bias is zero.</summary>
    /// <param name="inChannels">Input channels Cin (≥ 1).</param>
    /// <param name="outChannels">Output channels Cout (≥ 1).</param>
    /// <param name="kernelSize">Kernel (kh, kw); an int for a square one.</param>
    /// <param name="stride">Stride; default 1.</param>
    /// <param name="padding">Zero padding: symmetric, explicit or <see cref="Padding.Same"/>; default none.</param>
    /// <param name="dilation">Dilation; default 1.</param>
    /// <param name="groups">Groups (≥ 1, dividing Cin and Cout); Cin for depthwise.</param>
    /// <param name="bias">Whether to add a learnable bias.</param>
    /// <param name="rng">Initialisation randomness; null for <c>new Random(0)</c>.</param>
    /// <exception cref="ArgumentOutOfRangeException">A channel count or groups is below 1.</exception>
    /// <exception cref="ArgumentException">groups does not divide both channel counts, or the window (kernel, stride, padding, dilation) is invalid.</exception>
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

    /// <summary>Input channels Cin.</summary>
    public int InChannels { get; }
    /// <summary>Output channels Cout.</summary>
    public int OutChannels { get; }
    /// <summary>Groups: Cin and Cout are split into this many independent convolutions.</summary>
    public int Groups { get; }
    /// <summary>Kernel, stride, resolved padding (top, left, bottom, right) and dilation.</summary>
    public Window2d Geometry { get; }
    /// <summary>The padding as given to the constructor (possibly <see cref="Padding.Same"/>); <see cref="Geometry"/> holds it resolved.</summary>
    public Padding PaddingSpec { get; }
    /// <summary>Kernel (kh, kw).</summary>
    public Size2 KernelSize => (Geometry.KernelH, Geometry.KernelW);
    /// <summary>Stride (sh, sw).</summary>
    public Size2 Stride => (Geometry.StrideH, Geometry.StrideW);
    /// <summary>Dilation (dh, dw).</summary>
    public Size2 Dilation => (Geometry.DilationH, Geometry.DilationW);
    /// <summary>The kernel, [Cout, Cin/groups, kh, kw] ("weight"; He-normal initialised).</summary>
    public Parameter Weight => _weight;
    /// <summary>The bias, [Cout] ("bias"; zero at first), or null without one.</summary>
    public Parameter? Bias => _bias;
    /// <summary>True when the layer has a bias.</summary>
    public bool HasBias => _bias is not null;

    /// <summary>groups = inChannels &gt; 1: each output channel reads one input channel; runs the direct <see cref="DepthwiseConv"/> kernel.</summary>
    public bool IsDepthwise => Groups == InChannels && Groups > 1;

    /// <inheritdoc/>
    public override IReadOnlyList<Parameter> Parameters => _bias is null ? [_weight] : [_weight, _bias];

    /// <inheritdoc/>
    public override void Reset(Random rng)
    {
        Initializers.HeNormal(_weight.Value.Span, InChannels / Groups * Geometry.KernelH * Geometry.KernelW, rng);
        _bias?.Value.Clear();
    }

    /// <inheritdoc/>
    public override int[] OutputShape(int[] inputShape)
    {
        CheckRank(inputShape, 4, "Conv2d");
        if (inputShape[1] != InChannels)
            throw new ArgumentException($"Conv2d expects {InChannels} input channels; got an input of shape [{string.Join(", ", inputShape)}].", "x");
        var (oh, ow) = Geometry.CheckedOutputSize(inputShape[2], inputShape[3], "x");
        return [inputShape[0], OutChannels, oh, ow];
    }

    /// <summary>True while an <see cref="InferencePlan"/> has prepared this layer's inference forward (packed weights, and a folded batch norm and/or fused ReLU when they follow).</summary>
    public bool IsInferenceFused => _fusion is not null;

    /// <summary>True when <paramref name="layer"/> is the batch norm or ReLU fused into this convolution (it then passes its input through in inference).</summary>
    internal bool Absorbs(Layer layer) => _fusion is { } f && (ReferenceEquals(f.Norm, layer) || ReferenceEquals(f.Activation, layer));

    bool IAbsorbsNext.Absorbs(Layer layer) => Absorbs(layer);

    /// <summary>Folds <paramref name="bn"/>'s running statistics and affine parameters into copies of the weights and bias; fuses <paramref name="relu"/>.</summary>
    internal void FuseForInference(BatchNorm2d? bn, ReLU? relu)
    {
        float[] w = _weight.Value.Data;
        float[]? b = _bias?.Value.Data;
        float[]? fw = null;
        float[]? fb = bn is null && relu is null ? b : new float[OutChannels];
        if (bn is null)
        {
            if (b is not null && fb != b) Array.Copy(b, fb!, OutChannels);
        }
        else
        {
            if (bn.NumFeatures != OutChannels)
                throw new ArgumentException($"BatchNorm2d({bn.NumFeatures}) cannot fold into a convolution with {OutChannels} output channels.", nameof(bn));
            fw = new float[w.Length];
            int per = w.Length / OutChannels;
            for (int co = 0; co < OutChannels; co++)
            {
                // s = γ/√(σ² + ε); W' = s·W; b' = s·(b − μ) + β (in double, rounded once).
                double s = bn.Gamma.Value[co] / Math.Sqrt(bn.RunningVar[co] + bn.Eps);
                for (int i = co * per; i < (co + 1) * per; i++) fw[i] = (float)(s * w[i]);
                fb![co] = (float)(s * ((b?[co] ?? 0f) - (double)bn.RunningMean[co]) + bn.Beta.Value[co]);
            }
        }
        // The weights packed once for every inference forward: Winograd-transformed where that path runs (at least on
        // images large enough), else for the GEMM path (the depthwise kernel reads them as they are).
        int tile = WinogradTile(int.MaxValue, int.MaxValue, int.MaxValue);
        var transformed = tile == 0 ? null : new Winograd.Weights(fw ?? w, OutChannels, InChannels, tile, inputGradient: false, pack: true);
        var packed = IsDepthwise || transformed is not null ? null : ConvGemm.PackForward(fw ?? w, InChannels, OutChannels, Groups, Geometry.KernelH, Geometry.KernelW);
        ClearInferenceFusion();
        _fusion = new Fusion(fw, fb, relu is not null, bn, relu, packed, transformed);
    }

    internal void ClearInferenceFusion()
    {
        _fusion?.Packed?.Dispose();
        _fusion?.Transformed?.Dispose();
        _fusion = null;
        lock (_lazyGate)
        {
            _lazyPacked?.Dispose();
            _lazyPacked = null;
        }
    }

    /// <summary>The Winograd tile size for <paramref name="batch"/> outputs of outH×outW (forward; for dX the channel counts swap), 0 for im2col + GEMM.</summary>
    private int WinogradTile(int outH, int outW, int batch, bool inputGradient = false) =>
        IsDepthwise || !Winograd.Supports(Geometry, Groups) ? 0
        : inputGradient ? Winograd.TileFor(OutChannels, InChannels, outH, outW, batch) : Winograd.TileFor(InChannels, OutChannels, outH, outW, batch);

    /// <summary>
    /// The GEMM weights of a plan whose convolution was prepared for Winograd but meets a batch too small for it (one
    /// 7×7 map): packed on first such forward and kept with the plan's other weights.
    /// </summary>
    private ConvGemm.PackedWeights? PlannedGemmWeights(Fusion fusion)
    {
        if (fusion.Packed is not null) return fusion.Packed;
        lock (_lazyGate)
            return _lazyPacked ??= ConvGemm.PackForward(fusion.Weight ?? _weight.Value.Data, InChannels, OutChannels, Groups, Geometry.KernelH, Geometry.KernelW);
    }

    private readonly object _lazyGate = new();
    private ConvGemm.PackedWeights? _lazyPacked;

    /// <inheritdoc/>
    public override Tensor Forward(Tensor x, bool training)
    {
        CheckRank(x, 4, "Conv2d");
        var outShape = OutputShape(x.ShapeArray);
        var y = Tensor.Reuse(ref _y, outShape);
        if (training) ClearInferenceFusion();   // weights are about to change: never run a stale fold
        var fusion = _fusion;
        float[] w = fusion?.Weight ?? _weight.Value.Data;
        float[]? b = fusion is null ? _bias?.Value.Data : fusion.Bias;
        bool relu = fusion?.Relu ?? false;
        // y = W ⋆ x + b   (inference plan: y = max(W' ⋆ x + b', 0) with the batch norm folded in)
        int tile = WinogradTile(y.H, y.W, x.N);
        if (IsDepthwise)
            DepthwiseConv.Forward(x.Data, w, b, y.Data, x.N, InChannels, x.H, x.W, OutChannels / InChannels, Geometry, y.H, y.W, relu);
        else if (tile != 0)
            Winograd.Forward(x.Data, w, b, y.Data, x.N, InChannels, x.H, x.W, OutChannels, Geometry, y.H, y.W, relu, tile,
                fusion?.Transformed is { } t && t.Tile == tile ? t : null);
        else
            ConvGemm.Forward(x.Data, w, b, y.Data, x.N, InChannels, x.H, x.W, OutChannels, Groups, Geometry, y.H, y.W, relu,
                fusion is null ? null : PlannedGemmWeights(fusion));
        // A fused output is not this layer's own y: backward must not read it.
        _saved = fusion is null ? new Saved(x, y) : null;
        return y;
    }

    /// <inheritdoc/>
    public override Tensor Backward(Tensor dy)
    {
        var (x, y) = _saved ?? throw BackwardBeforeForward();
        CheckSameShape(dy, y, "Conv2d");
        var dx = Tensor.Reuse(ref _dx, x.ShapeArray);
        float[] w = _weight.Value.Data, dW = _weight.Grad.Data;
        float[]? db = _bias?.Grad.Data, dX = ComputeInputGradient ? dx.Data : null;
        // dW += dY · colsᵀ,  db += Σ dY,  dX = col2im(Wᵀ · dY)
        if (IsDepthwise)
            DepthwiseConv.Backward(x.Data, w, dy.Data, dW, db, dX, x.N, InChannels, x.H, x.W, OutChannels / InChannels, Geometry, dy.H, dy.W);
        else if (dX is not null && WinogradTile(x.H, x.W, x.N, inputGradient: true) is var tile and not 0)
        {
            ConvGemm.Backward(x.Data, w, dy.Data, dW, db, null, x.N, InChannels, x.H, x.W, OutChannels, Groups, Geometry, dy.H, dy.W);
            Winograd.InputGradient(w, dy.Data, dX, x.N, InChannels, x.H, x.W, OutChannels, Geometry, dy.H, dy.W, tile);
        }
        else
            ConvGemm.Backward(x.Data, w, dy.Data, dW, db, dX, x.N, InChannels, x.H, x.W, OutChannels, Groups, Geometry, dy.H, dy.W);
        return dx;
    }

    /// <inheritdoc/>
    public override long MultiplyAccumulates(int[] inputShape)
    {
        var o = OutputShape(inputShape);
        return (long)o[0] * o[1] * o[2] * o[3] * (InChannels / Groups) * Geometry.KernelH * Geometry.KernelW;
    }

    /// <inheritdoc/>
    public override (Size2 Kernel, Size2 Stride) SpatialWindow(int[] inputShape) =>
        ((Geometry.EffectiveKernelH, Geometry.EffectiveKernelW), Stride);

    /// <inheritdoc/>
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

    /// <summary>Rebuilds a <see cref="Conv2d"/> from <paramref name="spec"/>, the JSON its <see cref="Layer.ToSpec"/> writes (<see cref="LayerFactory"/> calls this).</summary>
    public static Conv2d FromSpec(JsonObject spec) => new(Spec.Int(spec, "inChannels"), Spec.Int(spec, "outChannels"), Spec.Pair(spec, "kernelSize"),
        Spec.Pair(spec, "stride"), Spec.Pad(spec, "padding"), Spec.Pair(spec, "dilation"), Spec.Int(spec, "groups"), Spec.Bool(spec, "bias"));

    /// <inheritdoc/>
    public override string ToString() =>
        $"Conv2d({InChannels}, {OutChannels}, kernel_size={KernelSize}, stride={Stride}, padding={PaddingSpec}" +
        (Dilation != (Size2)1 ? $", dilation={Dilation}" : "") + (Groups != 1 ? $", groups={Groups}" : "") + (HasBias ? "" : ", bias=False") + ")";
}
