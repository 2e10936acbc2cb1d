using System.Text.Json.Nodes;
using MLConv.Training.Tensors;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace MLConv.Training.Layers;

/// <summary>
/// A learnable scale and shift per channel (axis 1) of a rank-<see cref="Rank"/> input: y[n, c, ...] = x[n, c, ...]·a[c] + b[c]
/// (what Mul and Add by constants express, and batch norm with fixed statistics). Backward: da[c] += Σ dy·x, db[c] += Σ dy,
/// dx = dy·a[c]. Starts as the identity (a = 1, b = 0).
/// </summary>
public sealed class ChannelAffine : Layer
{
    private readonly Parameter _scale, _shift;
    private Tensor? _x, _y, _dx;

    /// <summary>y = scale[c]·x + shift[c] over axis 1 of a rank-<paramref name="rank"/> input, scale 1 and shift 0 at first.</summary>
    /// <param name="channels">Size of axis 1 (≥ 1).</param>
    /// <param name="rank">Input rank, batch and channel axes included (≥ 2; 4 for [N, C, H, W]).</param>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of its range.</exception>
    public ChannelAffine(int channels, int rank = 4)
    {
        if (channels < 1) throw new ArgumentOutOfRangeException(nameof(channels), channels, "channels must be >= 1.");
        if (rank < 2) throw new ArgumentOutOfRangeException(nameof(rank), rank, "rank must be >= 2 (batch and channel axes).");
        Channels = channels;
        Rank = rank;
        _scale = new Parameter("weight", new Tensor(channels)) { Decay = false };
        _shift = new Parameter("bias", new Tensor(channels)) { Decay = false };
        Reset(new Random(0));
    }

    /// <summary>An affine with the given per-channel scale and shift (copied).</summary>
    public static ChannelAffine FromValues(ReadOnlySpan<float> scale, ReadOnlySpan<float> shift, int rank = 4)
    {
        if (scale.Length != shift.Length) throw new ArgumentException($"scale has {scale.Length} values, shift {shift.Length}.", nameof(shift));
        var a = new ChannelAffine(scale.Length, rank);
        scale.CopyTo(a._scale.Value.Span);
        shift.CopyTo(a._shift.Value.Span);
        return a;
    }

    /// <summary>Size of the channel axis (axis 1).</summary>
    public int Channels { get; }
    /// <summary>The input rank: [N, C] is 2, [N, C, H, W] is 4.</summary>
    public int Rank { get; }
    /// <summary>a, the per-channel factor.</summary>
    public Parameter Scale => _scale;
    /// <summary>b, the per-channel offset.</summary>
    public Parameter Shift => _shift;

    /// <inheritdoc/>
    public override IReadOnlyList<Parameter> Parameters => [_scale, _shift];

    /// <inheritdoc/>
    public override void Reset(Random rng)
    {
        _scale.Value.Fill(1f);
        _shift.Value.Clear();
    }

    /// <inheritdoc/>
    public override int[] OutputShape(int[] inputShape)
    {
        if (inputShape.Length != Rank || inputShape[1] != Channels)
            throw new ArgumentException($"ChannelAffine expects a rank-{Rank} input with {Channels} channels on axis 1; got [{string.Join(", ", inputShape)}].", "x");
        return (int[])inputShape.Clone();
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor x, bool training)
    {
        ArgumentNullException.ThrowIfNull(x);
        var y = Tensor.Reuse(ref _y, OutputShape(x.ShapeArray));
        _x = x;
        int inner = x.Length / (x.N * Channels);
        for (int p = 0; p < x.N * Channels; p++)
        {
            int c = p % Channels;
            var yp = y.Data.AsSpan(p * inner, inner);
            TensorPrimitives.Multiply(x.Data.AsSpan(p * inner, inner), _scale.Value[c], yp);
            TensorPrimitives.Add(yp, _shift.Value[c], yp);
        }
        return y;
    }

    /// <inheritdoc/>
    public override Tensor Backward(Tensor dy)
    {
        CheckSameShape(dy, _y, "ChannelAffine");
        var x = _x!;
        var dx = Tensor.Reuse(ref _dx, x.ShapeArray);
        int inner = x.Length / (x.N * Channels);
        for (int p = 0; p < x.N * Channels; p++)
        {
            int c = p % Channels;
            var g = dy.Data.AsSpan(p * inner, inner);
            _scale.Grad[c] += TensorPrimitives.Dot(g, x.Data.AsSpan(p * inner, inner));
            _shift.Grad[c] += TensorPrimitives.Sum(g);
            if (ComputeInputGradient) TensorPrimitives.Multiply(g, _scale.Value[c], dx.Data.AsSpan(p * inner, inner));
        }
        return dx;
    }

    /// <inheritdoc/>
    public override long MultiplyAccumulates(int[] inputShape) => inputShape.Aggregate(1L, (a, d) => a * d);

    /// <inheritdoc/>
    public override JsonObject ToSpec() => new() { ["type"] = TypeName, ["channels"] = Channels, ["rank"] = Rank };

    /// <summary>Rebuilds a <see cref="ChannelAffine"/> from <paramref name="spec"/>, the JSON its <see cref="Layer.ToSpec"/> writes (<see cref="LayerFactory"/> calls this).</summary>
    public static ChannelAffine FromSpec(JsonObject spec) => new(Spec.Int(spec, "channels"), Spec.Int(spec, "rank"));

    /// <inheritdoc/>
    public override string ToString() => $"ChannelAffine({Channels}" + (Rank != 4 ? $", rank={Rank})" : ")");
}
