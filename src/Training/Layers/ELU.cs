using System.Text.Json.Nodes;

namespace MLConv.Training.Layers;

/// <summary>
/// y = x for x &gt; 0, else α·(eˣ − 1); dy/dx = 1 for x &gt; 0, else y + α (= α·eˣ) (ONNX Elu). <see cref="SELU"/> is λ times the α = 1.6733 case.
/// </summary>
public sealed class ELU : ElementwiseActivation<ELU.Function>
{
    /// <summary>An ELU with scale α for negative inputs.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="alpha"/> is not finite.</exception>
    public ELU(double alpha = 1.0)
    {
        if (!double.IsFinite(alpha)) throw new ArgumentOutOfRangeException(nameof(alpha), alpha, "alpha must be finite.");
        Alpha = alpha;
    }

    /// <summary>α: the value approached as x → −∞ is −α.</summary>
    public double Alpha { get; }

    /// <inheritdoc/>
    protected override Function Functor => new((float)Alpha, 1f);

    /// <inheritdoc/>
    public override JsonObject ToSpec() => new() { ["type"] = TypeName, ["alpha"] = Alpha };
    /// <summary>Rebuilds a <see cref="ELU"/> from <paramref name="spec"/>, the JSON its <see cref="Layer.ToSpec"/> writes (<see cref="LayerFactory"/> calls this).</summary>
    public static ELU FromSpec(JsonObject spec) => new(Spec.Double(spec, "alpha"));
    /// <inheritdoc/>
    public override string ToString() => $"ELU(alpha={Alpha})";

    /// <summary>λ·ELU_α: λ·x for x &gt; 0, else λ·α·(eˣ − 1); the derivative below 0 is y + λ·α.</summary>
    public readonly struct Function(float alpha, float lambda) : IElementwiseFunction
    {
        /// <inheritdoc/>
        public float Activate(float x) => x > 0f ? lambda * x : lambda * alpha * (MathF.Exp(x) - 1f);
        /// <inheritdoc/>
        public float Derivative(float x, float y) => x > 0f ? lambda : y + lambda * alpha;
        /// <inheritdoc/>
        public bool TryActivate(ReadOnlySpan<float> x, Span<float> y) => false;
    }
}
