using System.Text.Json.Nodes;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace MLConv.Training.Layers;

/// <summary>y = tanh(x); dy/dx = 1 − y² (ONNX Tanh).</summary>
public sealed class Tanh : ElementwiseActivation<Tanh.Function>
{
    /// <inheritdoc/>
    protected override Function Functor => default;

    /// <summary>Rebuilds a <see cref="Tanh"/> from <paramref name="spec"/>, the JSON its <see cref="Layer.ToSpec"/> writes (<see cref="LayerFactory"/> calls this).</summary>
    public static Tanh FromSpec(JsonObject spec) => new();

    /// <summary>tanh, vectorised by TensorPrimitives.</summary>
    public readonly struct Function : IElementwiseFunction
    {
        /// <inheritdoc/>
        public float Activate(float x) => MathF.Tanh(x);
        /// <inheritdoc/>
        public float Derivative(float x, float y) => 1f - y * y;
        /// <inheritdoc/>
        public bool TryActivate(ReadOnlySpan<float> x, Span<float> y)
        {
            TensorPrimitives.Tanh(x, y);
            return true;
        }
    }
}
