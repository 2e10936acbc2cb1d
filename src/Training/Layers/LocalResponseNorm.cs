using System.Text.Json.Nodes;
using MLConv.Training.Kernels;
using MLConv.Training.Tensors;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace MLConv.Training.Layers;

/// <summary>
/// Local response normalisation across channels (AlexNet, GoogLeNet; ONNX LRN, Caffe's ACROSS_CHANNELS).
/// For channel c of C, with lo = ⌊(size − 1)/2⌋, hi = ⌈(size − 1)/2⌉ and W(c) = [max(0, c − lo), min(C − 1, c + hi)]
/// (ONNX's window; PyTorch puts the odd cell of an even size before c instead):
///   forward   s_c = k + α/size · Σ_{i ∈ W(c)} x_i²,    y_c = x_c · s_c^(−β)
///   backward  dx_j = dy_j · s_j^(−β) − (2αβ/size) · x_j · Σ_{c : j ∈ W(c)} dy_c · y_c / s_c,
///             where j ∈ W(c) ⇔ c ∈ [j − hi, j + lo].
/// Every position of [N, C, spatial…] is normalised independently of the others.
/// </summary>
public sealed class LocalResponseNorm : Layer
{
    private Tensor? _y, _scale, _pow, _dx, _t;
    private Saved? _saved;

    /// <summary>What backward reads, kept by the last forward: x, y, s and s^(−β).</summary>
    private readonly record struct Saved(Tensor X, Tensor Y, Tensor S, Tensor SPowNegBeta);

    /// <summary>Local response normalisation over <paramref name="size"/> neighbouring channels.</summary>
    /// <param name="size">Channels in the window (≥ 1).</param>
    /// <param name="alpha">α (finite).</param>
    /// <param name="beta">β, the exponent (finite).</param>
    /// <param name="k">k, the additive constant (finite).</param>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of its range.</exception>
    public LocalResponseNorm(int size, double alpha = 1e-4, double beta = 0.75, double k = 1.0)
    {
        if (size < 1) throw new ArgumentOutOfRangeException(nameof(size), size, "size must be >= 1.");
        if (!double.IsFinite(alpha)) throw new ArgumentOutOfRangeException(nameof(alpha), alpha, "alpha must be finite.");
        if (!double.IsFinite(beta)) throw new ArgumentOutOfRangeException(nameof(beta), beta, "beta must be finite.");
        if (!double.IsFinite(k)) throw new ArgumentOutOfRangeException(nameof(k), k, "k must be finite.");
        Size = size;
        Alpha = alpha;
        Beta = beta;
        K = k;
    }

    /// <summary>Channels in the window.</summary>
    public int Size { get; }
    /// <summary>α (divided by <see cref="Size"/>).</summary>
    public double Alpha { get; }
    /// <summary>β, the exponent.</summary>
    public double Beta { get; }
    /// <summary>k, the additive constant.</summary>
    public double K { get; }
    private int Lo => (Size - 1) / 2;
    private int Hi => Size / 2;

    /// <inheritdoc/>
    public override int[] OutputShape(int[] inputShape)
    {
        if (inputShape.Length < 2)
            throw new ArgumentException($"LocalResponseNorm expects [N, C, …] (rank >= 2); got [{string.Join(", ", inputShape)}].", nameof(inputShape));
        return (int[])inputShape.Clone();
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor x, bool training)
    {
        ArgumentNullException.ThrowIfNull(x);
        var shape = OutputShape(x.ShapeArray);
        var y = Tensor.Reuse(ref _y, shape);
        var scale = Tensor.Reuse(ref _scale, shape);
        var pow = Tensor.Reuse(ref _pow, shape);
        int n = shape[0], c = shape[1], plane = x.Length / Math.Max(1, n * c);
        float[] xd = x.Data, yd = y.Data, sd = scale.Data, pd = pow.Data;
        float a = (float)(Alpha / Size), k = (float)K, negBeta = (float)-Beta;
        Parallelism.For(n, (long)c * plane * (Size + 4), i =>
        {
            int start = i * c * plane;
            // pow holds x² first, then s^(−β): s_c = k + a · Σ_{W(c)} x_i²
            var sq = pd.AsSpan(start, c * plane);
            TP.Multiply(xd.AsSpan(start, c * plane), xd.AsSpan(start, c * plane), sq);
            for (int ch = 0; ch < c; ch++)
            {
                var s = sd.AsSpan(start + ch * plane, plane);
                s.Clear();
                for (int j = Math.Max(0, ch - Lo); j <= Math.Min(c - 1, ch + Hi); j++) TP.Add(s, sq.Slice(j * plane, plane), s);
                TP.Multiply(s, a, s);
                TP.Add(s, k, s);
            }
            var sAll = sd.AsSpan(start, c * plane);
            TP.Pow(sAll, negBeta, sq);
            TP.Multiply(xd.AsSpan(start, c * plane), sq, yd.AsSpan(start, c * plane));
        });
        _saved = new Saved(x, y, scale, pow);
        return y;
    }

    /// <inheritdoc/>
    public override Tensor Backward(Tensor dy)
    {
        var (x, y, scale, pow) = _saved ?? throw BackwardBeforeForward();
        CheckSameShape(dy, y, "LocalResponseNorm");
        var shape = dy.ShapeArray;
        var dx = Tensor.Reuse(ref _dx, shape);
        var t = Tensor.Reuse(ref _t, shape);
        int n = shape[0], c = shape[1], plane = dy.Length / Math.Max(1, n * c);
        float[] xd = x.Data, yd = y.Data, sd = scale.Data, pd = pow.Data, dyd = dy.Data, dxd = dx.Data, td = t.Data;
        float coef = (float)(-2 * Alpha * Beta / Size);
        Parallelism.For(n, (long)c * plane * (Size + 6), i =>
        {
            int start = i * c * plane, len = c * plane;
            // t_c = dy_c · y_c / s_c
            var ts = td.AsSpan(start, len);
            TP.Multiply(dyd.AsSpan(start, len), yd.AsSpan(start, len), ts);
            TP.Divide(ts, sd.AsSpan(start, len), ts);
            for (int j = 0; j < c; j++)
            {
                var o = dxd.AsSpan(start + j * plane, plane);
                o.Clear();
                for (int ch = Math.Max(0, j - Hi); ch <= Math.Min(c - 1, j + Lo); ch++) TP.Add(o, ts.Slice(ch * plane, plane), o);
                // dx_j = dy_j · s_j^(−β) + coef · x_j · Σ t
                TP.Multiply(o, xd.AsSpan(start + j * plane, plane), o);
                TP.Multiply(o, coef, o);
                TP.FusedMultiplyAdd(dyd.AsSpan(start + j * plane, plane), pd.AsSpan(start + j * plane, plane), o, o);
            }
        });
        return dx;
    }

    /// <inheritdoc/>
    public override long MultiplyAccumulates(int[] inputShape)
    {
        long n = 1;
        foreach (int d in inputShape) n *= d;
        return n * (Size + 2);
    }

    /// <inheritdoc/>
    public override JsonObject ToSpec() => new() { ["type"] = TypeName, ["size"] = Size, ["alpha"] = Alpha, ["beta"] = Beta, ["k"] = K };
    /// <summary>Rebuilds a <see cref="LocalResponseNorm"/> from <paramref name="spec"/>, the JSON its <see cref="Layer.ToSpec"/> writes (<see cref="LayerFactory"/> calls this).</summary>
    public static LocalResponseNorm FromSpec(JsonObject spec) =>
        new(Spec.Int(spec, "size"), Spec.Double(spec, "alpha"), Spec.Double(spec, "beta"), Spec.Double(spec, "k"));
    /// <inheritdoc/>
    public override string ToString() => $"LocalResponseNorm({Size}, alpha={Alpha}, beta={Beta}, k={K})";
}
