using System.Text.Json.Nodes;
using MLConv.Training.Tensors;

namespace MLConv.Training.Layers;

/// <summary>
/// A pretrained block kept as it is: forward runs <see cref="Inner"/> in inference mode whatever the caller asks (batch
/// norm uses its running statistics, dropout is off), its parameters are marked not <see cref="Parameter.Trainable"/>
/// (the trainer's optimizer skips them) and <see cref="Layer.Reset"/> leaves them alone. Nothing before a frozen block
/// trains, so it computes no input gradient: it belongs at the start of a network (transfer learning's frozen base).
///   forward  y = inner(x, inference)          backward  nothing flows back (dL/dX is not needed)
/// </summary>
public sealed class Frozen : Layer
{
    private Tensor? _dx;
    private int[]? _inShape;

    /// <summary>Wraps <paramref name="inner"/> and marks all its parameters not trainable; it no longer computes its input gradient.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="inner"/> is null.</exception>
    public Frozen(Layer inner)
    {
        Inner = inner ?? throw new ArgumentNullException(nameof(inner));
        foreach (var p in inner.AllParameters()) p.Trainable = false;
        ComputeInputGradient = false;
    }

    /// <summary>The wrapped layer (its parameters have <see cref="Parameter.Trainable"/> false).</summary>
    public Layer Inner { get; }

    /// <inheritdoc/>
    public override IReadOnlyList<(string Name, Layer Layer)> Children => [("inner", Inner)];

    /// <inheritdoc/>
    public override int[] OutputShape(int[] inputShape) => Inner.OutputShape(inputShape);

    /// <inheritdoc/>
    public override Tensor Forward(Tensor x, bool training)
    {
        ArgumentNullException.ThrowIfNull(x);
        _inShape = x.ShapeArray;
        return Inner.Forward(x, training: false);
    }

    /// <summary>Returns zeros of the input's shape: a frozen block passes no gradient on (it must come first).</summary>
    public override Tensor Backward(Tensor dy)
    {
        ArgumentNullException.ThrowIfNull(dy);
        if (_inShape is null) throw new InvalidOperationException("Frozen.Backward called before Forward.");
        if (ComputeInputGradient)
            throw new InvalidOperationException("A Frozen block passes no gradient to its input: put it at the start of the network, before every trainable layer.");
        var dx = Tensor.Reuse(ref _dx, _inShape);
        dx.Span.Clear();
        return dx;
    }

    /// <summary>The pretrained weights stay: nothing is re-drawn.</summary>
    public override void Reset(Random rng) { }

    /// <inheritdoc/>
    public override long MultiplyAccumulates(int[] inputShape) => Inner.MultiplyAccumulates(inputShape);

    /// <inheritdoc/>
    public override (Size2 Kernel, Size2 Stride) SpatialWindow(int[] inputShape) => Inner.SpatialWindow(inputShape);

    /// <inheritdoc/>
    public override JsonObject ToSpec() => new() { ["type"] = TypeName, ["inner"] = Inner.ToSpec() };
    /// <summary>Rebuilds a <see cref="Frozen"/> from <paramref name="spec"/>, the JSON its <see cref="Layer.ToSpec"/> writes (<see cref="LayerFactory"/> calls this).</summary>
    public static Frozen FromSpec(JsonObject spec) => new(LayerFactory.FromSpec(Spec.Object(spec, "inner")));
    /// <inheritdoc/>
    public override string ToString() => $"Frozen({Inner})";
}
