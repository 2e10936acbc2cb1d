using System.Text.Json.Nodes;

namespace MLConv.Training.Layers;

/// <summary>
/// y = x·h(x) with h(x) = max(0, min(1, x/6 + 1/2)) (MobileNetV3; PyTorch's Hardswish, ONNX HardSwish from opset 14);
/// dy/dx = 0 for x &lt; −3, x/3 + 1/2 on [−3, 3], 1 for x &gt; 3 (PyTorch's choice at the kinks).
/// Below opset 14 it is written as Mul(x, HardSigmoid(1/6, 1/2)), which the importer reads back as one HardSwish.
/// </summary>
public sealed class HardSwish : ElementwiseActivation<HardSwish.Function>
{
    /// <summary>h's slope and offset.</summary>
    public const float Alpha = 1f / 6, Beta = 0.5f;

    /// <inheritdoc/>
    protected override Function Functor => default;

    /// <summary>Rebuilds a <see cref="HardSwish"/> from <paramref name="spec"/>, the JSON its <see cref="Layer.ToSpec"/> writes (<see cref="LayerFactory"/> calls this).</summary>
    public static HardSwish FromSpec(JsonObject spec) => new();

    /// <summary>x·clamp(x/6 + 1/2, 0, 1).</summary>
    public readonly struct Function : IElementwiseFunction
    {
        /// <inheritdoc/>
        public float Activate(float x) => x * Math.Clamp(Alpha * x + Beta, 0f, 1f);
        /// <inheritdoc/>
        public float Derivative(float x, float y) => x < -3f ? 0f : x > 3f ? 1f : x / 3f + 0.5f;
        /// <inheritdoc/>
        public bool TryActivate(ReadOnlySpan<float> x, Span<float> y) => false;
    }
}
