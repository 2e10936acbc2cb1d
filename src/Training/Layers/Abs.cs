using System.Text.Json.Nodes;

namespace MLConv.Training.Layers;

/// <summary>y = |x|; dy/dx = sign(x), 0 at x = 0 (PyTorch's subgradient; ONNX Abs).</summary>
public sealed class Abs : ElementwiseActivation<Abs.Function>
{
    protected override Function Functor => default;

    public static Abs FromSpec(JsonObject spec) => new();

    /// <summary>|x|.</summary>
    public readonly struct Function : IElementwiseFunction
    {
        public float Activate(float x) => MathF.Abs(x);
        public float Derivative(float x, float y) => x > 0 ? 1f : x < 0 ? -1f : 0f;
        public bool TryActivate(ReadOnlySpan<float> x, Span<float> y)
        {
            System.Numerics.Tensors.TensorPrimitives.Abs(x, y);
            return true;
        }
    }
}
