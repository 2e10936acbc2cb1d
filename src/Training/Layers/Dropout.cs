using System.Text.Json.Nodes;
using MLConv.Training.Tensors;

namespace MLConv.Training.Layers;

/// <summary>
/// Inverted dropout: in training each value is kept with probability 1 − p and scaled by 1/(1 − p),
/// so inference is the identity. The mask comes from a seeded generator (re-seeded by <see cref="Reset"/> and <see cref="Reseed"/>).
/// Backward: dx = dy · mask / (1 − p).
/// </summary>
public sealed class Dropout : Layer
{
    private Random _rng;
    private Tensor? _y, _dx;
    private float[] _mask = [];
    private Saved? _saved;

    /// <summary>What backward reads, kept by the last forward: y (its shape) and the mask (already scaled by 1/(1 − p)); null when the forward was the identity.</summary>
    private readonly record struct Saved(Tensor Y, float[]? Mask);

    /// <summary>Inverted dropout: in training each element is zeroed with probability <paramref name="p"/> and the others scaled by 1/(1 − p); inference is the identity.</summary>
    /// <param name="p">Drop probability in [0, 1).</param>
    /// <param name="seed">Seed of the mask stream (a trainer reseeds it through <see cref="Layer.Reseed"/>).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="p"/> is outside [0, 1).</exception>
    public Dropout(double p = 0.5, int seed = 0)
    {
        if (!(p >= 0 && p < 1)) throw new ArgumentOutOfRangeException(nameof(p), p, "p must be in [0, 1).");
        P = p;
        _rng = new Random(seed);
    }

    /// <summary>Drop probability.</summary>
    public double P { get; }

    /// <inheritdoc/>
    public override void Reset(Random rng) => _rng = new Random(rng.Next());

    /// <inheritdoc/>
    public override void Reseed(Func<int> nextSeed)
    {
        ArgumentNullException.ThrowIfNull(nextSeed);
        _rng = new Random(nextSeed());
    }

    /// <inheritdoc/>
    public override int[] OutputShape(int[] inputShape) => (int[])inputShape.Clone();

    /// <inheritdoc/>
    public override Tensor Forward(Tensor x, bool training)
    {
        ArgumentNullException.ThrowIfNull(x);
        var y = Tensor.Reuse(ref _y, x.ShapeArray);
        if (!training || P == 0)
        {
            x.Span.CopyTo(y.Span);
            _saved = new Saved(y, null);
            return y;
        }
        if (_mask.Length < x.Length) _mask = new float[x.Length];
        float scale = (float)(1.0 / (1.0 - P));
        // xorshift64* seeded from the layer's generator: one draw per forward from Random, none per element.
        ulong state = (ulong)_rng.NextInt64() | 1UL;
        ulong threshold = (ulong)(P * (1UL << 53));
        for (int i = 0; i < x.Length; i++)
        {
            state ^= state >> 12; state ^= state << 25; state ^= state >> 27;
            _mask[i] = ((state * 0x2545F4914F6CDD1DUL) >> 11) >= threshold ? scale : 0f;
        }
        System.Numerics.Tensors.TensorPrimitives.Multiply(x.Span, _mask.AsSpan(0, x.Length), y.Span);
        _saved = new Saved(y, _mask);
        return y;
    }

    /// <inheritdoc/>
    public override Tensor Backward(Tensor dy)
    {
        var (y, mask) = _saved ?? throw BackwardBeforeForward();
        CheckSameShape(dy, y, "Dropout");
        var dx = Tensor.Reuse(ref _dx, dy.ShapeArray);
        if (mask is not null) System.Numerics.Tensors.TensorPrimitives.Multiply(dy.Span, mask.AsSpan(0, dy.Length), dx.Span);
        else dy.Span.CopyTo(dx.Span);
        return dx;
    }

    /// <inheritdoc/>
    public override JsonObject ToSpec() => new() { ["type"] = TypeName, ["p"] = P };
    /// <summary>Rebuilds a <see cref="Dropout"/> from <paramref name="spec"/>, the JSON its <see cref="Layer.ToSpec"/> writes (<see cref="LayerFactory"/> calls this).</summary>
    public static Dropout FromSpec(JsonObject spec) => new(Spec.Double(spec, "p"));
    /// <inheritdoc/>
    public override string ToString() => $"Dropout(p={P})";
}
