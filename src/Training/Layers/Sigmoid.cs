using System.Text.Json.Nodes;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace MLConv.Training.Layers;

/// <summary>y = σ(x) = 1 / (1 + e^−x); dy/dx = y·(1 − y) (ONNX Sigmoid).</summary>
public sealed class Sigmoid : ElementwiseActivation<Sigmoid.Function>
{
    protected override Function Functor => default;

    public static Sigmoid FromSpec(JsonObject spec) => new();

    /// <summary>σ, vectorised by TensorPrimitives.</summary>
    public readonly struct Function : IElementwiseFunction
    {
        public float Activate(float x) => 1f / (1f + MathF.Exp(-x));
        public float Derivative(float x, float y) => y * (1f - y);
        public bool TryActivate(ReadOnlySpan<float> x, Span<float> y)
        {
            TensorPrimitives.Sigmoid(x, y);
            return true;
        }
    }
}
