using System.Text.Json.Nodes;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace MLConv.Training.Layers;

/// <summary>y = tanh(x); dy/dx = 1 − y² (ONNX Tanh).</summary>
public sealed class Tanh : ElementwiseActivation<Tanh.Function>
{
    protected override Function Functor => default;

    public static Tanh FromSpec(JsonObject spec) => new();

    /// <summary>tanh, vectorised by TensorPrimitives.</summary>
    public readonly struct Function : IElementwiseFunction
    {
        public float Activate(float x) => MathF.Tanh(x);
        public float Derivative(float x, float y) => 1f - y * y;
        public bool TryActivate(ReadOnlySpan<float> x, Span<float> y)
        {
            TensorPrimitives.Tanh(x, y);
            return true;
        }
    }
}
