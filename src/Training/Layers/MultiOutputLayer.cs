using MLConv.Training.Tensors;

namespace MLConv.Training.Layers;

/// <summary>
/// A layer that writes several values (<see cref="Split"/>): a node of a <see cref="Graph"/> with one output name per
/// value. <see cref="ForwardMany"/> keeps what backward needs; <see cref="BackwardMany"/> takes dL/dy_k for each output of
/// the last forward (null where an output feeds nothing that reaches the loss: a zero gradient) and returns dL/dx. The
/// single-output members of <see cref="Layer"/> throw: such a layer only makes sense inside a Graph.
/// </summary>
public abstract class MultiOutputLayer : Layer
{
    /// <summary>How many values the layer writes.</summary>
    public abstract int OutputCount { get; }

    /// <summary>The outputs for <paramref name="x"/>, in order; the tensors are valid until the next call.</summary>
    public abstract IReadOnlyList<Tensor> ForwardMany(Tensor x, bool training);

    /// <summary>dL/dx from dL/dy_k of each output of the last forward (null: zero); valid until the next call.</summary>
    public abstract Tensor BackwardMany(IReadOnlyList<Tensor?> dys);

    /// <summary>Shape of every output for an input shape; throws ArgumentException when the input does not fit.</summary>
    public abstract IReadOnlyList<int[]> OutputShapes(int[] inputShape);

    /// <summary>Always throws <see cref="InvalidOperationException"/>: call <see cref="ForwardMany"/>.</summary>
    public sealed override Tensor Forward(Tensor x, bool training) =>
        throw new InvalidOperationException($"{TypeName} writes {OutputCount} values: call ForwardMany(x, training), or place it in a Graph node with {OutputCount} outputs.");

    /// <summary>Always throws <see cref="InvalidOperationException"/>: call <see cref="BackwardMany"/>.</summary>
    public sealed override Tensor Backward(Tensor dy) =>
        throw new InvalidOperationException($"{TypeName} writes {OutputCount} values: call BackwardMany(dys), or place it in a Graph node with {OutputCount} outputs.");

    /// <summary>Always throws <see cref="ArgumentException"/>: call <see cref="OutputShapes"/>.</summary>
    public sealed override int[] OutputShape(int[] inputShape) =>
        throw new ArgumentException($"{TypeName} writes {OutputCount} values and cannot be followed by a single layer; place it in a Graph node with {OutputCount} outputs.", nameof(inputShape));
}
