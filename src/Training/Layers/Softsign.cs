using System.Text.Json.Nodes;

namespace MLConv.Training.Layers;

/// <summary>y = x / (1 + |x|); dy/dx = 1 / (1 + |x|)² (ONNX Softsign).</summary>
public sealed class Softsign : ElementwiseActivation<Softsign.Function>
{
    protected override Function Functor => default;

    public static Softsign FromSpec(JsonObject spec) => new();

    /// <summary>x / (1 + |x|).</summary>
    public readonly struct Function : IElementwiseFunction
    {
        public float Activate(float x) => x / (1f + MathF.Abs(x));
        public float Derivative(float x, float y)
        {
            float d = 1f + MathF.Abs(x);
            return 1f / (d * d);
        }
        public bool TryActivate(ReadOnlySpan<float> x, Span<float> y) => false;
    }
}
