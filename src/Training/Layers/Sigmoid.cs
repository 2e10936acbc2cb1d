using System.Text.Json.Nodes;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace MLConv.Training.Layers;

/// <summary>y = σ(x) = 1 / (1 + e^−x); dy/dx = y·(1 − y) (ONNX Sigmoid).</summary>
public sealed class Sigmoid : ElementwiseActivation<Sigmoid.Function>
{
    /// <inheritdoc/>
    protected override Function Functor => default;

    /// <summary>Rebuilds a <see cref="Sigmoid"/> from <paramref name="spec"/>, the JSON its <see cref="Layer.ToSpec"/> writes (<see cref="LayerFactory"/> calls this).</summary>
    public static Sigmoid FromSpec(JsonObject spec) => new();

    /// <summary>σ, vectorised by TensorPrimitives.</summary>
    public readonly struct Function : IElementwiseFunction
    {
        /// <inheritdoc/>
        public float Activate(float x) => 1f / (1f + MathF.Exp(-x));
        /// <inheritdoc/>
        public float Derivative(float x, float y) => y * (1f - y);
        /// <inheritdoc/>
        public bool TryActivate(ReadOnlySpan<float> x, Span<float> y)
        {
            TensorPrimitives.Sigmoid(x, y);
            return true;
        }
    }
}
