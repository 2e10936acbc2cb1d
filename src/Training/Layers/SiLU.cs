using System.Text.Json.Nodes;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace MLConv.Training.Layers;

/// <summary>
/// y = x·σ(x) (SiLU, "swish"); dy/dx = σ(x)·(1 + x·(1 − σ(x))). ONNX has no operator for it in opsets 7–22: it is
/// written as Sigmoid + Mul, and the importer reads Mul(x, Sigmoid(x)) back as one SiLU.
/// </summary>
public sealed class SiLU : ElementwiseActivation<SiLU.Function>
{
    /// <inheritdoc/>
    protected override Function Functor => default;

    /// <summary>Rebuilds a <see cref="SiLU"/> from <paramref name="spec"/>, the JSON its <see cref="Layer.ToSpec"/> writes (<see cref="LayerFactory"/> calls this).</summary>
    public static SiLU FromSpec(JsonObject spec) => new();

    /// <summary>x·σ(x), vectorised as TensorPrimitives' sigmoid times x.</summary>
    public readonly struct Function : IElementwiseFunction
    {
        /// <inheritdoc/>
        public float Activate(float x) => x / (1f + MathF.Exp(-x));
        /// <inheritdoc/>
        public float Derivative(float x, float y)
        {
            float s = 1f / (1f + MathF.Exp(-x));
            return s * (1f + x * (1f - s));
        }
        /// <inheritdoc/>
        public bool TryActivate(ReadOnlySpan<float> x, Span<float> y)
        {
            TensorPrimitives.Sigmoid(x, y);
            TensorPrimitives.Multiply(x, y, y);
            return true;
        }
    }
}
