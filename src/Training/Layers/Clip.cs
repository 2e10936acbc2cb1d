using System.Text.Json.Nodes;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace MLConv.Training.Layers;

/// <summary>
/// y = min(max(x, min), max) (ONNX Clip; PyTorch's clamp and Hardtanh; <see cref="ReLU6"/> is Clip(0, 6)); a bound may be
/// infinite (absent). dy/dx = 1 strictly inside (min, max), else 0 (0 at the bounds, as PyTorch's ReLU6 and Hardtanh).
/// </summary>
public sealed class Clip : ElementwiseActivation<Clip.Function>
{
    /// <param name="min">Lower bound; −∞ for none.</param>
    /// <param name="max">Upper bound; +∞ for none.</param>
    /// <summary>y = min(max(x, <paramref name="min"/>), <paramref name="max"/>).</summary>
    /// <exception cref="ArgumentOutOfRangeException">A bound is NaN or the wrong infinity, or max &lt; min.</exception>
    public Clip(double min = double.NegativeInfinity, double max = double.PositiveInfinity)
    {
        if (double.IsNaN(min) || double.IsPositiveInfinity(min)) throw new ArgumentOutOfRangeException(nameof(min), min, "min must be a number or −∞.");
        if (double.IsNaN(max) || double.IsNegativeInfinity(max)) throw new ArgumentOutOfRangeException(nameof(max), max, "max must be a number or +∞.");
        if (min > max) throw new ArgumentOutOfRangeException(nameof(max), max, $"max must be >= min ({min}).");
        Min = min;
        Max = max;
    }

    /// <summary>Clip(0, 6), MobileNet's bounded rectifier.</summary>
    public static Clip ReLU6() => new(0, 6);

    /// <summary>Lower bound (−∞: none).</summary>
    public double Min { get; }
    /// <summary>Upper bound (+∞: none).</summary>
    public double Max { get; }

    /// <inheritdoc/>
    protected override Function Functor => new((float)Min, (float)Max);

    /// <summary>Infinite bounds are left out (JSON has no infinity).</summary>
    public override JsonObject ToSpec()
    {
        var o = new JsonObject { ["type"] = TypeName };
        if (double.IsFinite(Min)) o["min"] = Min;
        if (double.IsFinite(Max)) o["max"] = Max;
        return o;
    }

    /// <summary>Rebuilds a <see cref="Clip"/> from <paramref name="spec"/>, the JSON its <see cref="Layer.ToSpec"/> writes (<see cref="LayerFactory"/> calls this).</summary>
    public static Clip FromSpec(JsonObject spec) =>
        new(spec["min"]?.GetValue<double>() ?? double.NegativeInfinity, spec["max"]?.GetValue<double>() ?? double.PositiveInfinity);

    /// <inheritdoc/>
    public override string ToString() => $"Clip(min={Min}, max={Max})";

    /// <summary>clamp(x, lo, hi), vectorised as TensorPrimitives' max then min.</summary>
    public readonly struct Function(float lo, float hi) : IElementwiseFunction
    {
        /// <inheritdoc/>
        public float Activate(float x) => MathF.Min(MathF.Max(x, lo), hi);
        /// <inheritdoc/>
        public float Derivative(float x, float y) => x > lo && x < hi ? 1f : 0f;
        /// <inheritdoc/>
        public bool TryActivate(ReadOnlySpan<float> x, Span<float> y)
        {
            TensorPrimitives.Max(x, lo, y);
            TensorPrimitives.Min(y, hi, y);
            return true;
        }
    }
}
