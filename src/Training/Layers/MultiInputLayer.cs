using MLConv.Training.Tensors;

namespace MLConv.Training.Layers;

/// <summary>
/// A layer that joins several inputs (<see cref="Concat"/>, <see cref="Sum"/>): the nodes of a
/// <see cref="Graph"/> where branches meet. <see cref="Forward(IReadOnlyList{Tensor}, bool)"/> keeps
/// what backward needs; <see cref="BackwardMany"/> takes dL/dY of the last forward and returns dL/dx_i
/// for every input, in input order. The single-input members of <see cref="Layer"/> throw: such a
/// layer only makes sense inside a Graph.
/// </summary>
public abstract class MultiInputLayer : Layer
{
    /// <summary>Computes the output for <paramref name="inputs"/> (in order) and keeps what <see cref="BackwardMany"/> needs; the output is valid until the next call.</summary>
    public abstract Tensor Forward(IReadOnlyList<Tensor> inputs, bool training);

    /// <summary>dL/dx_i for each input of the last forward; the tensors are valid until the next call.</summary>
    public abstract IReadOnlyList<Tensor> BackwardMany(Tensor dy);

    /// <summary>Output shape for the inputs' shapes; throws ArgumentException when they do not fit together.</summary>
    public abstract int[] OutputShape(IReadOnlyList<int[]> inputShapes);

    /// <summary>Multiply-accumulates of one forward pass for inputs of the given shapes.</summary>
    public virtual long MultiplyAccumulates(IReadOnlyList<int[]> inputShapes) => 0;

    /// <summary>Always throws <see cref="InvalidOperationException"/>: call <see cref="Forward(IReadOnlyList{Tensor}, bool)"/>.</summary>
    public sealed override Tensor Forward(Tensor x, bool training) =>
        throw new InvalidOperationException($"{TypeName} joins several inputs: call Forward(IReadOnlyList<Tensor>, bool), or place it in a Graph node.");

    /// <summary>Always throws <see cref="InvalidOperationException"/>: call <see cref="BackwardMany"/>.</summary>
    public sealed override Tensor Backward(Tensor dy) =>
        throw new InvalidOperationException($"{TypeName} joins several inputs: call BackwardMany(dy), or place it in a Graph node.");

    /// <summary>Always throws <see cref="ArgumentException"/>: call <see cref="OutputShape(IReadOnlyList{int[]})"/>.</summary>
    public sealed override int[] OutputShape(int[] inputShape) =>
        throw new ArgumentException($"{TypeName} joins several inputs and cannot follow a single layer; place it in a Graph node.", nameof(inputShape));

    /// <summary>The shapes as "[a, b], [c, d]" for messages.</summary>
    protected static string Shapes(IReadOnlyList<int[]> shapes) => string.Join(", ", shapes.Select(s => "[" + string.Join(", ", s) + "]"));

    /// <summary>Checks that <paramref name="inputs"/> is a non-empty list without nulls.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="inputs"/> is null.</exception>
    /// <exception cref="ArgumentException">The list is empty or holds a null.</exception>
    protected void CheckInputs(IReadOnlyList<Tensor> inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        if (inputs.Count == 0) throw new ArgumentException($"{TypeName} needs at least one input; got none.", nameof(inputs));
        for (int i = 0; i < inputs.Count; i++)
            if (inputs[i] is null) throw new ArgumentException($"{TypeName}: input {i} is null.", nameof(inputs));
    }
}
