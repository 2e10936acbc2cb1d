using System.Text.Json.Nodes;

namespace MLConv.Training.Layers;

/// <summary>y = x / (1 + |x|); dy/dx = 1 / (1 + |x|)² (ONNX Softsign).</summary>
public sealed class Softsign : ElementwiseActivation<Softsign.Function>
{
    /// <inheritdoc/>
    protected override Function Functor => default;

    /// <summary>Rebuilds a <see cref="Softsign"/> from <paramref name="spec"/>, the JSON its <see cref="Layer.ToSpec"/> writes (<see cref="LayerFactory"/> calls this).</summary>
    public static Softsign FromSpec(JsonObject spec) => new();

    /// <summary>x / (1 + |x|).</summary>
    public readonly struct Function : IElementwiseFunction
    {
        /// <inheritdoc/>
        public float Activate(float x) => x / (1f + MathF.Abs(x));
        /// <inheritdoc/>
        public float Derivative(float x, float y)
        {
            float d = 1f + MathF.Abs(x);
            return 1f / (d * d);
        }
        /// <inheritdoc/>
        public bool TryActivate(ReadOnlySpan<float> x, Span<float> y) => false;
    }
}
