using System.Text.Json.Nodes;

namespace MLConv.Training.Layers;

/// <summary>
/// y = max(0, min(1, α·x + β)); dy/dx = α where 0 &lt; α·x + β &lt; 1, else 0 (0 at the kinks, as PyTorch) (ONNX HardSigmoid).
/// The defaults are PyTorch's Hardsigmoid (α = 1/6, β = 1/2); ONNX's are α = 0.2, β = 0.5.
/// </summary>
public sealed class HardSigmoid : ElementwiseActivation<HardSigmoid.Function>
{
    /// <summary>A hard sigmoid y = max(0, min(1, α·x + β)).</summary>
    /// <exception cref="ArgumentOutOfRangeException">A value is not finite.</exception>
    public HardSigmoid(double alpha = 1.0 / 6, double beta = 0.5)
    {
        if (!double.IsFinite(alpha)) throw new ArgumentOutOfRangeException(nameof(alpha), alpha, "alpha must be finite.");
        if (!double.IsFinite(beta)) throw new ArgumentOutOfRangeException(nameof(beta), beta, "beta must be finite.");
        Alpha = alpha;
        Beta = beta;
    }

    /// <summary>Slope α.</summary>
    public double Alpha { get; }
    /// <summary>Offset β.</summary>
    public double Beta { get; }

    /// <inheritdoc/>
    protected override Function Functor => new((float)Alpha, (float)Beta);

    /// <inheritdoc/>
    public override JsonObject ToSpec() => new() { ["type"] = TypeName, ["alpha"] = Alpha, ["beta"] = Beta };
    /// <summary>Rebuilds a <see cref="HardSigmoid"/> from <paramref name="spec"/>, the JSON its <see cref="Layer.ToSpec"/> writes (<see cref="LayerFactory"/> calls this).</summary>
    public static HardSigmoid FromSpec(JsonObject spec) => new(Spec.Double(spec, "alpha"), Spec.Double(spec, "beta"));
    /// <inheritdoc/>
    public override string ToString() => $"HardSigmoid(alpha={Alpha}, beta={Beta})";

    /// <summary>clamp(α·x + β, 0, 1).</summary>
    public readonly struct Function(float alpha, float beta) : IElementwiseFunction
    {
        /// <inheritdoc/>
        public float Activate(float x) => Math.Clamp(alpha * x + beta, 0f, 1f);
        /// <inheritdoc/>
        public float Derivative(float x, float y)
        {
            float t = alpha * x + beta;
            return t > 0f && t < 1f ? alpha : 0f;
        }
        /// <inheritdoc/>
        public bool TryActivate(ReadOnlySpan<float> x, Span<float> y) => false;
    }
}
