using System.Text.Json.Nodes;

namespace MLConv.Training.Layers;

/// <summary>y = x for x &gt; 0, else s·x; dy/dx = 1 for x &gt; 0, else s (s at 0, as PyTorch) (ONNX LeakyRelu, alpha = s).</summary>
public sealed class LeakyReLU : ElementwiseActivation<LeakyReLU.Function>
{
    /// <summary>A leaky ReLU of slope <paramref name="negativeSlope"/> for x ≤ 0.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="negativeSlope"/> is not finite.</exception>
    public LeakyReLU(double negativeSlope = 0.01)
    {
        if (!double.IsFinite(negativeSlope)) throw new ArgumentOutOfRangeException(nameof(negativeSlope), negativeSlope, "negativeSlope must be finite.");
        NegativeSlope = negativeSlope;
    }

    /// <summary>Slope s for x ≤ 0.</summary>
    public double NegativeSlope { get; }

    /// <inheritdoc/>
    protected override Function Functor => new((float)NegativeSlope);

    /// <inheritdoc/>
    public override JsonObject ToSpec() => new() { ["type"] = TypeName, ["negativeSlope"] = NegativeSlope };
    /// <summary>Rebuilds a <see cref="LeakyReLU"/> from <paramref name="spec"/>, the JSON its <see cref="Layer.ToSpec"/> writes (<see cref="LayerFactory"/> calls this).</summary>
    public static LeakyReLU FromSpec(JsonObject spec) => new(Spec.Double(spec, "negativeSlope"));
    /// <inheritdoc/>
    public override string ToString() => $"LeakyReLU(negativeSlope={NegativeSlope})";

    /// <summary>The leaky rectifier with slope s below 0.</summary>
    public readonly struct Function(float s) : IElementwiseFunction
    {
        /// <inheritdoc/>
        public float Activate(float x) => x > 0f ? x : s * x;
        /// <inheritdoc/>
        public float Derivative(float x, float y) => x > 0f ? 1f : s;
        /// <inheritdoc/>
        public bool TryActivate(ReadOnlySpan<float> x, Span<float> y) => false;
    }
}
