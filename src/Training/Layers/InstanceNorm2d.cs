using System.Text.Json.Nodes;
using MLConv.Training.Tensors;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace MLConv.Training.Layers;

/// <summary>
/// Instance normalisation of [N, C, H, W]: each plane (n, c) by its own statistics over H·W, in training and inference alike.
///   forward   μ = mean(x),  σ² = mean((x − μ)²) (biased),  x̂ = (x − μ)/√(σ² + ε),  y = γ[c]·x̂ + β[c]  (γ = 1, β = 0 without affine)
///   backward  g = dy·γ,  dx = (g − mean(g) − x̂·mean(g·x̂))/√(σ² + ε),  dγ += Σ dy·x̂,  dβ += Σ dy
/// Forward keeps x̂ and 1/√(σ² + ε) per plane for backward.
/// </summary>
public sealed class InstanceNorm2d : Layer
{
    private readonly Parameter? _gamma, _beta;
    private Tensor? _xhat, _y, _dx;
    private float[] _invStd = [];

    /// <summary>Instance normalisation of each (sample, channel) plane of [N, C, H, W] over H·W, optionally with a learnable per-channel γ (1) and β (0).</summary>
    /// <param name="numFeatures">Channels C (≥ 1).</param>
    /// <param name="eps">ε added to the variance (positive, finite).</param>
    /// <param name="affine">Whether to learn γ and β.</param>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of its range.</exception>
    public InstanceNorm2d(int numFeatures, double eps = 1e-5, bool affine = false)
    {
        if (numFeatures < 1) throw new ArgumentOutOfRangeException(nameof(numFeatures), numFeatures, "numFeatures must be >= 1.");
        if (!(eps > 0) || double.IsInfinity(eps)) throw new ArgumentOutOfRangeException(nameof(eps), eps, "eps must be positive and finite.");
        NumFeatures = numFeatures;
        Eps = eps;
        if (affine)
        {
            _gamma = new Parameter("weight", new Tensor(numFeatures)) { Decay = false };
            _beta = new Parameter("bias", new Tensor(numFeatures)) { Decay = false };
        }
        Reset(new Random(0));
    }

    /// <summary>Channels C.</summary>
    public int NumFeatures { get; }
    /// <summary>ε added to the variance.</summary>
    public double Eps { get; }
    /// <summary>True when the layer learns γ and β.</summary>
    public bool Affine => _gamma is not null;
    /// <summary>γ, the per-channel scale (null without affine).</summary>
    public Parameter? Gamma => _gamma;
    /// <summary>β, the per-channel shift (null without affine).</summary>
    public Parameter? Beta => _beta;

    /// <inheritdoc/>
    public override IReadOnlyList<Parameter> Parameters => _gamma is null ? [] : [_gamma, _beta!];

    /// <inheritdoc/>
    public override void Reset(Random rng)
    {
        _gamma?.Value.Fill(1f);
        _beta?.Value.Clear();
    }

    /// <inheritdoc/>
    public override int[] OutputShape(int[] inputShape)
    {
        CheckRank(inputShape, 4, "InstanceNorm2d");
        if (inputShape[1] != NumFeatures)
            throw new ArgumentException($"InstanceNorm2d expects {NumFeatures} channels; got an input of shape [{string.Join(", ", inputShape)}].", "x");
        return (int[])inputShape.Clone();
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor x, bool training)
    {
        CheckRank(x, 4, "InstanceNorm2d");
        var shape = OutputShape(x.ShapeArray);
        var y = Tensor.Reuse(ref _y, shape);
        var xhat = Tensor.Reuse(ref _xhat, shape);
        int planes = x.N * x.C, plane = x.H * x.W;
        if (_invStd.Length != planes) _invStd = new float[planes];
        for (int p = 0; p < planes; p++)
        {
            var xs = x.Data.AsSpan(p * plane, plane);
            double sum = 0;
            foreach (float v in xs) sum += v;
            double mean = sum / plane, sq = 0;
            foreach (float v in xs) sq += (v - mean) * (v - mean);
            float inv = (float)(1 / Math.Sqrt(sq / plane + Eps));
            _invStd[p] = inv;
            var xh = xhat.Data.AsSpan(p * plane, plane);
            TensorPrimitives.Subtract(xs, (float)mean, xh);
            TensorPrimitives.Multiply(xh, inv, xh);
            int c = p % NumFeatures;
            var yp = y.Data.AsSpan(p * plane, plane);
            TensorPrimitives.Multiply(xh, _gamma?.Value[c] ?? 1f, yp);
            TensorPrimitives.Add(yp, _beta?.Value[c] ?? 0f, yp);
        }
        return y;
    }

    /// <inheritdoc/>
    public override Tensor Backward(Tensor dy)
    {
        CheckSameShape(dy, _y, "InstanceNorm2d");
        var xhat = _xhat!;
        var dx = Tensor.Reuse(ref _dx, xhat.ShapeArray);
        int planes = xhat.N * xhat.C, plane = xhat.H * xhat.W;
        for (int p = 0; p < planes; p++)
        {
            int c = p % NumFeatures;
            var g = dy.Data.AsSpan(p * plane, plane);
            var xh = xhat.Data.AsSpan(p * plane, plane);
            float sumG = TensorPrimitives.Sum(g), sumGx = TensorPrimitives.Dot(g, xh);
            if (_gamma is not null)
            {
                _gamma.Grad[c] += sumGx;
                _beta!.Grad[c] += sumG;
            }
            if (!ComputeInputGradient) continue;
            // With g = dy·γ: mean(g) = γ·Σdy/P and mean(g·x̂) = γ·Σdy·x̂/P.
            float gamma = _gamma?.Value[c] ?? 1f, k = gamma * _invStd[p];
            var d = dx.Data.AsSpan(p * plane, plane);
            TensorPrimitives.Multiply(xh, -sumGx / plane, d);
            TensorPrimitives.Add(d, -sumG / plane, d);
            TensorPrimitives.Add(d, g, d);
            TensorPrimitives.Multiply(d, k, d);
        }
        return dx;
    }

    /// <inheritdoc/>
    public override long MultiplyAccumulates(int[] inputShape) => 2L * inputShape[0] * inputShape[1] * inputShape[2] * inputShape[3];

    /// <inheritdoc/>
    public override JsonObject ToSpec() => new() { ["type"] = TypeName, ["numFeatures"] = NumFeatures, ["eps"] = Eps, ["affine"] = Affine };

    /// <summary>Rebuilds a <see cref="InstanceNorm2d"/> from <paramref name="spec"/>, the JSON its <see cref="Layer.ToSpec"/> writes (<see cref="LayerFactory"/> calls this).</summary>
    public static InstanceNorm2d FromSpec(JsonObject spec) => new(Spec.Int(spec, "numFeatures"), Spec.Double(spec, "eps"), Spec.Bool(spec, "affine"));

    /// <inheritdoc/>
    public override string ToString() =>
        $"InstanceNorm2d({NumFeatures}, eps={Eps.ToString(System.Globalization.CultureInfo.InvariantCulture)}{(Affine ? ", affine=True" : "")})";
}
