using System.Buffers;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using System.Text.Json.Nodes;
using MLConv.Training.Init;
using MLConv.Training.Kernels;
using MLConv.Training.Tensors;

namespace MLConv.Training.Layers;

/// <summary>
/// 2-D convolution (cross-correlation) by im2col + GEMM, with groups.
/// Per sample and group g (P = Hout·Wout output pixels, the sample's columns kept in cache):
///   forward   cols = im2col(x),  Y_g = W_g · cols_g + b                       (Y_g: Cout/g × P, in place in y)
///   backward  dW_g += dY_g · cols_gᵀ,   db += Σ dY,   dX = col2im(W_gᵀ · dY_g)
/// (dX is the seeds' transposed convolution: the padded upstream gradient convolved with the mirrored kernel).
/// A 1x1 stride-1 unpadded convolution uses the image as its column matrix (no im2col). Weight shape
/// [Cout, Cin/groups, kh, kw] as in PyTorch and ONNX. groups = Cin is depthwise (Cout = k·Cin gives a channel
/// multiplier k) and runs the direct <see cref="DepthwiseConv"/> kernel.
/// </summary>
public sealed class Conv2d : Layer
{
    private readonly Parameter _weight;
    private readonly Parameter? _bias;
    private Tensor? _x, _y, _dx;

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
        var y = Tensor.Reuse(ref _y, outShape);
        _x = x;
        if (IsDepthwise)
        {
            DepthwiseConv.Forward(x.Data, _weight.Value.Data, _bias?.Value.Data, y.Data, n, InChannels, h, w, OutChannels / InChannels, Geometry, oh, ow);
            return y;
        }
        var s = new Shapes(this, h, w, oh, ow, n);
        float[] xd = x.Data, yd = y.Data, wd = _weight.Value.Data;
        float[]? bias = _bias?.Value.Data;
        // A block of samples at a time keeps its columns (Rows × block·P) in cache; blocks are independent, so they
        // go to different threads when there are enough of them, otherwise each GEMM spreads over the threads.
        int blocks = (n + s.Block - 1) / s.Block;
        bool perBlock = blocks >= Parallelism.MaxThreads;
        // The weights are packed for the GEMM once per call, not once per block.
        var packed = new Gemm.PackedA?[Groups];
        try
        {
            for (int gi = 0; gi < Groups; gi++) packed[gi] = new Gemm.PackedA(false, s.Mg, s.Kg, wd.AsSpan(gi * s.Mg * s.Kg), s.Kg);
            Parallelism.For(blocks, perBlock ? s.Work * s.Block : 0, b =>
            {
                int i0 = b * s.Block, count = Math.Min(s.Block, n - i0), cw = count * s.P;
                float[]? rented = s.Direct ? null : ArrayPool<float>.Shared.Rent(s.Rows * cw + (count > 1 ? OutChannels * cw : 0));
                try
                {
                    var cols = s.Columns(xd, i0, count, rented);
                    // One sample: the GEMM writes straight into y. Several: into a (Cout × block·P) scratch, then scattered.
                    var outM = count == 1 ? yd.AsSpan(i0 * OutChannels * s.P, OutChannels * s.P) : rented.AsSpan(s.Rows * cw, OutChannels * cw);
                    for (int co = 0; co < OutChannels; co++) outM.Slice(co * cw, cw).Fill(bias?[co] ?? 0f);
                    for (int gi = 0; gi < Groups; gi++)
                        Gemm.Multiply(packed[gi]!, false, cw, 1f, cols.Slice(gi * s.Kg * cw), cw, 1f, outM.Slice(gi * s.Mg * cw), cw, parallel: !perBlock);
                    if (count > 1)
                        for (int k = 0; k < count; k++)
                        for (int co = 0; co < OutChannels; co++)
                            outM.Slice(co * cw + k * s.P, s.P).CopyTo(yd.AsSpan(((i0 + k) * OutChannels + co) * s.P, s.P));
                }
                finally { if (rented is not null) ArrayPool<float>.Shared.Return(rented); }
            });
        }
        finally { foreach (var p in packed) p?.Dispose(); }
        return y;
    }

    public override Tensor Backward(Tensor dy)
    {
        CheckSameShape(dy, _y, "Conv2d");
        var x = _x!;
        int n = x.N, h = x.H, w = x.W, oh = dy.H, ow = dy.W;
        var dx = Tensor.Reuse(ref _dx, x.ShapeArray);
        if (IsDepthwise)
        {
            DepthwiseConv.Backward(x.Data, _weight.Value.Data, dy.Data, _weight.Grad.Data, _bias?.Grad.Data,
                ComputeInputGradient ? dx.Data : null, n, InChannels, h, w, OutChannels / InChannels, Geometry, oh, ow);
            return dx;
        }
        var s = new Shapes(this, h, w, oh, ow, n);
        float[] xd = x.Data, dyd = dy.Data, dxd = dx.Data, wd = _weight.Value.Data;
        bool needDx = ComputeInputGradient, hasBias = _bias is not null;
        int wLen = _weight.Value.Length, pLen = wLen + (hasBias ? OutChannels : 0);
        int blocks = (n + s.Block - 1) / s.Block, plane = InChannels * h * w;

        // Sample blocks fall into a fixed number of consecutive groups (it depends on the shapes only); each group sums
        // its blocks' dW and db in order into its own buffer, and the buffers are added in group order:
        // the result does not depend on the thread count.
        int groups = Math.Min(blocks, 8), perGroup = (blocks + groups - 1) / groups;
        groups = (blocks + perGroup - 1) / perGroup;
        var partial = ArrayPool<float>.Shared.Rent(groups * pLen);
        // Wᵀ packed once per call for the dCols GEMMs.
        var packedT = needDx ? new Gemm.PackedA?[Groups] : [];
        try
        {
            for (int gi = 0; gi < packedT.Length; gi++) packedT[gi] = new Gemm.PackedA(true, s.Kg, s.Mg, wd.AsSpan(gi * s.Mg * s.Kg), s.Kg);
            Array.Clear(partial, 0, groups * pLen);
            bool perGroupThreads = groups >= Parallelism.MaxThreads;
            Parallelism.For(groups, perGroupThreads ? s.Work * 2 * perGroup * s.Block : 0, gr =>
            {
                float[]? rented = null;
                try
                {
                    var dW = partial.AsSpan(gr * pLen, wLen);
                    var db = partial.AsSpan(gr * pLen + wLen, pLen - wLen);
                    for (int b = gr * perGroup; b < Math.Min(blocks, (gr + 1) * perGroup); b++)
                    {
                        int i0 = b * s.Block, count = Math.Min(s.Block, n - i0), cw = count * s.P;
                        int need = s.Direct ? 0 : 2 * s.Rows * cw + (count > 1 ? OutChannels * cw : 0);
                        if (need > 0 && (rented is null || rented.Length < need))
                        {
                            if (rented is not null) ArrayPool<float>.Shared.Return(rented);
                            rented = ArrayPool<float>.Shared.Rent(need);
                        }
                        var cols = s.Columns(xd, i0, count, rented);
                        // dY of the block as a (Cout × block·P) matrix: the sample's own slice, or gathered.
                        var dyM = dyd.AsSpan(i0 * OutChannels * s.P, OutChannels * s.P);
                        if (count > 1)
                        {
                            var gathered = rented.AsSpan(2 * s.Rows * cw, OutChannels * cw);
                            for (int k = 0; k < count; k++)
                            for (int co = 0; co < OutChannels; co++)
                                dyd.AsSpan(((i0 + k) * OutChannels + co) * s.P, s.P).CopyTo(gathered.Slice(co * cw + k * s.P, s.P));
                            dyM = gathered;
                        }
                        for (int co = 0; co < db.Length; co++) db[co] += TensorPrimitives.Sum(dyM.Slice(co * cw, cw));
                        for (int gi = 0; gi < Groups; gi++)
                            Gemm.Multiply(false, true, s.Mg, s.Kg, cw, 1f, dyM.Slice(gi * s.Mg * cw), cw, cols.Slice(gi * s.Kg * cw), cw,
                                1f, dW.Slice(gi * s.Mg * s.Kg), s.Kg, parallel: !perGroupThreads);
                        if (!needDx) continue;
                        // dCols = Wᵀ · dY, folded back onto each image (col2im); for a direct 1x1 conv dCols is dX itself.
                        var dCols = s.Direct ? dxd.AsSpan(i0 * plane, plane) : rented.AsSpan(s.Rows * cw, s.Rows * cw);
                        for (int gi = 0; gi < Groups; gi++)
                            Gemm.Multiply(packedT[gi]!, false, cw, 1f, dyM.Slice(gi * s.Mg * cw), cw, 0f, dCols.Slice(gi * s.Kg * cw), cw, parallel: !perGroupThreads);
                        if (s.Direct) continue;
                        for (int k = 0; k < count; k++)
                        {
                            var dxn = dxd.AsSpan((i0 + k) * plane, plane);
                            dxn.Clear();
                            Col2Im.Run(dCols.Slice(k * s.P), cw, InChannels, h, w, Geometry, oh, ow, dxn);
                        }
                    }
                }
                finally { if (rented is not null) ArrayPool<float>.Shared.Return(rented); }
            });
            var gW = _weight.Grad.Span;
            for (int gr = 0; gr < groups; gr++) TensorPrimitives.Add(gW, partial.AsSpan(gr * pLen, wLen), gW);
            if (_bias is not null)
            {
                var gB = _bias.Grad.Span;
                for (int gr = 0; gr < groups; gr++) TensorPrimitives.Add(gB, partial.AsSpan(gr * pLen + wLen, OutChannels), gB);
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(partial);
            foreach (var p in packedT) p?.Dispose();
        }
        return dx;
    }

    /// <summary>
    /// GEMM sizes: P output pixels per sample, Kg = Cin/groups·kh·kw, Mg = Cout/groups; <see cref="Block"/> samples share one
    /// column matrix (Rows × Block·P) so that small images still give GEMMs of ~512 columns, as long as it stays ≤ 256 KiB.
    /// </summary>
    private readonly struct Shapes
    {
        public readonly int P, Kg, Mg, Rows, Channels, H, W, OutH, OutW, Block;
        public readonly Window2d G;
        /// <summary>1x1, stride 1, no padding: the image (C × H·W) already is the column matrix.</summary>
        public readonly bool Direct;
        public readonly long Work;

        public Shapes(Conv2d c, int h, int w, int oh, int ow, int n)
        {
            G = c.Geometry;
            P = oh * ow;
            Kg = c.InChannels / c.Groups * G.KernelH * G.KernelW;
            Mg = c.OutChannels / c.Groups;
            Rows = Kg * c.Groups;
            Channels = c.InChannels; H = h; W = w; OutH = oh; OutW = ow;
            Direct = G.KernelH == 1 && G.KernelW == 1 && G.StrideH == 1 && G.StrideW == 1
                && G.PadTop == 0 && G.PadLeft == 0 && G.PadBottom == 0 && G.PadRight == 0;
            Work = (long)c.OutChannels * P * Kg;
            Block = Direct ? 1 : Math.Max(1, Math.Min(n, Math.Min(512 / P, (64 * 1024) / Math.Max(1, Rows * P))));
        }

        /// <summary>
        /// The column matrix (Rows × count·P) of samples [i0, i0 + count): sample k fills columns [k·P, (k + 1)·P). A direct
        /// conv (count 1) uses the image itself; otherwise im2col writes into <paramref name="buffer"/>.
        /// </summary>
        public Span<float> Columns(float[] x, int i0, int count, float[]? buffer)
        {
            int size = Channels * H * W;
            if (Direct) return x.AsSpan(i0 * size, size);
            var cols = buffer.AsSpan(0, Rows * count * P);
            for (int k = 0; k < count; k++)
                Im2Col.Run(x.AsSpan((i0 + k) * size, size), Channels, H, W, G, OutH, OutW, cols.Slice(k * P), count * P);
            return cols;
        }
    }

    public override long MultiplyAccumulates(int[] inputShape)
    {
        var o = OutputShape(inputShape);
        return (long)o[0] * o[1] * o[2] * o[3] * (InChannels / Groups) * Geometry.KernelH * Geometry.KernelW;
    }

    public override (Size2 Kernel, Size2 Stride) SpatialWindow(int[] inputShape) =>
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

    public static Conv2d FromSpec(JsonObject spec) => new(Spec.Int(spec, "inChannels"), Spec.Int(spec, "outChannels"), Spec.Pair(spec, "kernelSize"),
        Spec.Pair(spec, "stride"), Spec.Pad(spec, "padding"), Spec.Pair(spec, "dilation"), Spec.Int(spec, "groups"), Spec.Bool(spec, "bias"));

    public override string ToString() =>
        $"Conv2d({InChannels}, {OutChannels}, kernel_size={KernelSize}, stride={Stride}, padding={PaddingSpec}" +
        (Dilation != (Size2)1 ? $", dilation={Dilation}" : "") + (Groups != 1 ? $", groups={Groups}" : "") + (HasBias ? "" : ", bias=False") + ")";
}
