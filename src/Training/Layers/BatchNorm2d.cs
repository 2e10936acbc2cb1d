using System.Text.Json.Nodes;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using MLConv.Training.Kernels;
using MLConv.Training.Tensors;

namespace MLConv.Training.Layers;

/// <summary>
/// Batch normalisation over (N, H, W) per channel, M = N·H·W values each.
/// Training: μ = mean(x), σ² = mean((x − μ)²) (biased), x̂ = (x − μ)/√(σ² + ε), y = γ·x̂ + β;
///   running_mean ← (1 − m)·running_mean + m·μ, running_var ← (1 − m)·running_var + m·σ²·M/(M − 1)
///   (unbiased, as PyTorch). Backward: dγ = Σ dy·x̂, dβ = Σ dy,
///   dx = γ / (M·√(σ² + ε)) · (M·dy − dβ − x̂·dγ).
/// Inference: y = γ·(x − running_mean)/√(running_var + ε) + β, so dx = γ/√(running_var + ε) · dy.
/// </summary>
public sealed class BatchNorm2d : Layer
{
    private readonly Parameter _gamma, _beta;
    private Tensor? _y, _dx, _xhat;
    private float[] _invStd = [];
    private Saved? _saved;

    /// <summary>
    /// What backward reads, kept by the last forward: 1/√(σ² + ε) per channel and, after a training forward, x̂;
    /// after an inference forward (<paramref name="XHat"/> null) x, normalised in backward with the running mean.
    /// </summary>
    private readonly record struct Saved(Tensor X, Tensor Y, Tensor? XHat, float[] InvStd);

    /// <summary>A batch norm over <paramref name="numFeatures"/> channels: γ = 1, β = 0, running mean 0 and variance 1.</summary>
    /// <param name="numFeatures">Channels C of the [N, C, H, W] input (≥ 1).</param>
    /// <param name="eps">ε added to the variance (&gt; 0).</param>
    /// <param name="momentum">m, the running statistics' update weight, in [0, 1] (PyTorch's convention: 0.1 = 10% new).</param>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of its range.</exception>
    public BatchNorm2d(int numFeatures, double eps = 1e-5, double momentum = 0.1)
    {
        if (numFeatures < 1) throw new ArgumentOutOfRangeException(nameof(numFeatures), numFeatures, "numFeatures must be >= 1.");
        if (!(eps > 0)) throw new ArgumentOutOfRangeException(nameof(eps), eps, "eps must be > 0.");
        if (!(momentum >= 0 && momentum <= 1)) throw new ArgumentOutOfRangeException(nameof(momentum), momentum, "momentum must be in [0, 1].");
        NumFeatures = numFeatures;
        Eps = eps;
        Momentum = momentum;
        _gamma = new Parameter("weight", new Tensor(numFeatures)) { Decay = false };
        _beta = new Parameter("bias", new Tensor(numFeatures)) { Decay = false };
        RunningMean = new Tensor(numFeatures);
        RunningVar = new Tensor(numFeatures);
        Reset(new Random(0));
    }

    /// <summary>Channels C.</summary>
    public int NumFeatures { get; }
    /// <summary>ε added to the variance.</summary>
    public double Eps { get; }
    /// <summary>Running statistics' update weight m.</summary>
    public double Momentum { get; }
    /// <summary>Scale γ, [C] ("weight"; no weight decay).</summary>
    public Parameter Gamma => _gamma;
    /// <summary>Shift β, [C] ("bias"; no weight decay).</summary>
    public Parameter Beta => _beta;
    /// <summary>Running mean, [C], used in inference mode; a buffer saved with the model.</summary>
    public Tensor RunningMean { get; }
    /// <summary>Running (unbiased) variance, [C], used in inference mode; a buffer saved with the model.</summary>
    public Tensor RunningVar { get; }

    /// <summary>Batches seen in training (PyTorch's num_batches_tracked).</summary>
    public long BatchesTracked { get; private set; }

    /// <inheritdoc/>
    public override IReadOnlyList<Parameter> Parameters => [_gamma, _beta];
    /// <inheritdoc/>
    public override IReadOnlyList<(string Name, Tensor Value)> Buffers => [("running_mean", RunningMean), ("running_var", RunningVar)];

    /// <inheritdoc/>
    public override void Reset(Random rng)
    {
        _gamma.Value.Fill(1f);
        _beta.Value.Clear();
        RunningMean.Clear();
        RunningVar.Fill(1f);
        BatchesTracked = 0;
    }

    /// <inheritdoc/>
    public override int[] OutputShape(int[] inputShape)
    {
        CheckRank(inputShape, 4, "BatchNorm2d");
        if (inputShape[1] != NumFeatures)
            throw new ArgumentException($"BatchNorm2d expects {NumFeatures} channels; got an input of shape [{string.Join(", ", inputShape)}].", "x");
        return (int[])inputShape.Clone();
    }

    /// <summary>Set by an <see cref="InferencePlan"/>: the convolution this batch norm is folded into.</summary>
    internal Conv2d? FoldedInto { get; set; }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor x, bool training)
    {
        CheckRank(x, 4, "BatchNorm2d");
        if (!training && FoldedInto is { } conv && conv.Absorbs(this) && x.C == NumFeatures)
        {
            // Folded into the convolution before it (inference plan): x already is this layer's output.
            _saved = null;
            return x;
        }
        OutputShape(x.ShapeArray);
        int n = x.N, c = x.C, plane = x.H * x.W;
        long m = (long)n * plane;
        if (training && m < 2)
            throw new ArgumentException($"BatchNorm2d in training needs more than one value per channel; got input [{x.ShapeString}].", nameof(x));
        var y = Tensor.Reuse(ref _y, x.ShapeArray);
        if (_invStd.Length < c) _invStd = new float[c];
        var xhat = training ? Tensor.Reuse(ref _xhat, x.ShapeArray) : null;
        float[] xd = x.Data, yd = y.Data, g = _gamma.Value.Data, b = _beta.Value.Data;

        var xh = xhat?.Data;
        Parallelism.For(c, 3L * m, ch =>
        {
            double mean, variance;
            if (training)
            {
                // Per-plane float sums, accumulated in double; variance by the two-pass formula on x − μ.
                double sum = 0;
                for (int i = 0; i < n; i++) sum += TensorPrimitives.Sum(xd.AsSpan((i * c + ch) * plane, plane));
                mean = sum / m;
                double sq = 0;
                float fmean = (float)mean;
                for (int i = 0; i < n; i++)
                {
                    int o = (i * c + ch) * plane;
                    var hs = xh.AsSpan(o, plane);
                    TensorPrimitives.Subtract(xd.AsSpan(o, plane), fmean, hs);
                    sq += TensorPrimitives.SumOfSquares(hs);
                }
                variance = sq / m;
                RunningMean[ch] = (float)((1 - Momentum) * RunningMean[ch] + Momentum * mean);
                RunningVar[ch] = (float)((1 - Momentum) * RunningVar[ch] + Momentum * variance * m / (m - 1));
            }
            else
            {
                mean = RunningMean[ch];
                variance = RunningVar[ch];
            }
            float inv = (float)(1.0 / Math.Sqrt(variance + Eps));
            _invStd[ch] = inv;
            for (int i = 0; i < n; i++)
            {
                int o = (i * c + ch) * plane;
                var ys = yd.AsSpan(o, plane);
                if (xh is not null)
                {
                    // x̂ = (x − μ)·inv, y = γ·x̂ + β.
                    var hs = xh.AsSpan(o, plane);
                    TensorPrimitives.Multiply(hs, inv, hs);
                    TensorPrimitives.Multiply(hs, g[ch], ys);
                    TensorPrimitives.Add(ys, b[ch], ys);
                }
                else
                {
                    // y = scale·x + shift with scale = γ/σ and shift = β − μ·γ/σ.
                    TensorPrimitives.Multiply(xd.AsSpan(o, plane), g[ch] * inv, ys);
                    TensorPrimitives.Add(ys, (float)(b[ch] - mean * g[ch] * inv), ys);
                }
            }
        });
        if (training) BatchesTracked++;
        _saved = new Saved(x, y, xhat, _invStd);
        return y;
    }

    /// <inheritdoc/>
    public override Tensor Backward(Tensor dy)
    {
        var (x, y, xhat, invStd) = _saved ?? throw BackwardBeforeForward();
        CheckSameShape(dy, y, "BatchNorm2d");
        int n = dy.N, c = dy.C, plane = dy.H * dy.W;
        long m = (long)n * plane;
        var dx = Tensor.Reuse(ref _dx, dy.ShapeArray);
        float[] dyd = dy.Data, dxd = dx.Data, g = _gamma.Value.Data;
        if (xhat is null)
        {
            for (int ch = 0; ch < c; ch++)
            {
                // Running statistics are constants: dx = γ/σ · dy, dγ = Σ dy·(x − μ)/σ, dβ = Σ dy.
                float k = g[ch] * invStd[ch], mu = RunningMean[ch];
                double dg = 0, dbt = 0;
                for (int i = 0; i < n; i++)
                {
                    int o = (i * c + ch) * plane;
                    var ds = dyd.AsSpan(o, plane);
                    var xs = x.Data.AsSpan(o, plane);
                    for (int q = 0; q < plane; q++) { dg += ds[q] * (xs[q] - mu) * invStd[ch]; dbt += ds[q]; }
                    TensorPrimitives.Multiply(ds, k, dxd.AsSpan(o, plane));
                }
                _gamma.Grad[ch] += (float)dg;
                _beta.Grad[ch] += (float)dbt;
            }
            return dx;
        }
        var xh = xhat.Data;
        Parallelism.For(c, 3L * m, ch =>
        {
            double dGamma = 0, dBeta = 0;
            for (int i = 0; i < n; i++)
            {
                int o = (i * c + ch) * plane;
                var ds = dyd.AsSpan(o, plane);
                dBeta += TensorPrimitives.Sum(ds);
                dGamma += TensorPrimitives.Dot(ds, xh.AsSpan(o, plane));
            }
            _gamma.Grad[ch] += (float)dGamma;
            _beta.Grad[ch] += (float)dBeta;
            // dx = coef·(M·dy − dβ − x̂·dγ), coef = γ/(M·σ).
            double coef = g[ch] * invStd[ch] / m;
            float a = (float)(coef * m), bh = (float)(-coef * dGamma), k0 = (float)(-coef * dBeta);
            for (int i = 0; i < n; i++)
            {
                int o = (i * c + ch) * plane;
                var xs = dxd.AsSpan(o, plane);
                TensorPrimitives.Multiply(dyd.AsSpan(o, plane), a, xs);
                TensorPrimitives.MultiplyAdd(xh.AsSpan(o, plane), bh, xs, xs);
                TensorPrimitives.Add(xs, k0, xs);
            }
        });
        return dx;
    }

    /// <inheritdoc/>
    public override long MultiplyAccumulates(int[] inputShape) => 2L * inputShape[0] * inputShape[1] * inputShape[2] * inputShape[3];

    /// <inheritdoc/>
    public override JsonObject ToSpec() => new()
    {
        ["type"] = TypeName,
        ["numFeatures"] = NumFeatures,
        ["eps"] = Eps,
        ["momentum"] = Momentum,
    };

    /// <summary>Rebuilds a <see cref="BatchNorm2d"/> from <paramref name="spec"/>, the JSON its <see cref="Layer.ToSpec"/> writes (<see cref="LayerFactory"/> calls this).</summary>
    public static BatchNorm2d FromSpec(JsonObject spec) => new(Spec.Int(spec, "numFeatures"), Spec.Double(spec, "eps"), Spec.Double(spec, "momentum"));

    /// <inheritdoc/>
    public override string ToString() => $"BatchNorm2d({NumFeatures}, eps={Eps}, momentum={Momentum})";
}
