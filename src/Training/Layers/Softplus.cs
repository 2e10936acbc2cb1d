using System.Text.Json.Nodes;

namespace MLConv.Training.Layers;

/// <summary>
/// y = ln(1 + eˣ), computed as max(x, 0) + ln(1 + e^−|x|) so that no exponential overflows; dy/dx = σ(x)
/// (ONNX Softplus; PyTorch's Softplus with beta 1, without its linear cut-off above x = 20, where the two differ by &lt; e^−20).
/// </summary>
public sealed class Softplus : ElementwiseActivation<Softplus.Function>
{
    /// <inheritdoc/>
    protected override Function Functor => default;

    /// <summary>Rebuilds a <see cref="Softplus"/> from <paramref name="spec"/>, the JSON its <see cref="Layer.ToSpec"/> writes (<see cref="LayerFactory"/> calls this).</summary>
    public static Softplus FromSpec(JsonObject spec) => new();

    /// <summary>The stable softplus.</summary>
    public readonly struct Function : IElementwiseFunction
    {
        /// <inheritdoc/>
        public float Activate(float x) => MathF.Max(x, 0f) + MathF.Log(1f + MathF.Exp(-MathF.Abs(x)));
        /// <inheritdoc/>
        public float Derivative(float x, float y) => 1f / (1f + MathF.Exp(-x));
        /// <inheritdoc/>
        public bool TryActivate(ReadOnlySpan<float> x, Span<float> y) => false;
    }
}
