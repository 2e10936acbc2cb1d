using System.Text.Json.Nodes;

namespace MLConv.Training.Layers;

/// <summary>y = |x|; dy/dx = sign(x), 0 at x = 0 (PyTorch's subgradient; ONNX Abs).</summary>
public sealed class Abs : ElementwiseActivation<Abs.Function>
{
    /// <inheritdoc/>
    protected override Function Functor => default;

    /// <summary>Rebuilds a <see cref="Abs"/> from <paramref name="spec"/>, the JSON its <see cref="Layer.ToSpec"/> writes (<see cref="LayerFactory"/> calls this).</summary>
    public static Abs FromSpec(JsonObject spec) => new();

    /// <summary>|x|.</summary>
    public readonly struct Function : IElementwiseFunction
    {
        /// <inheritdoc/>
        public float Activate(float x) => MathF.Abs(x);
        /// <inheritdoc/>
        public float Derivative(float x, float y) => x > 0 ? 1f : x < 0 ? -1f : 0f;
        /// <inheritdoc/>
        public bool TryActivate(ReadOnlySpan<float> x, Span<float> y)
        {
            System.Numerics.Tensors.TensorPrimitives.Abs(x, y);
            return true;
        }
    }
}
