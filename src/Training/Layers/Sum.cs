using System.Text.Json.Nodes;
using MLConv.Training.Tensors;

namespace MLConv.Training.Layers;

/// <summary>
/// Element-wise sum of N inputs of one shape (ResNet and ShuffleNet shortcuts, ONNX Sum / Add):
///   forward   y = Σ_i x_i
///   backward  dx_i = dy for every i  (the same tensor dy, not copies)
/// </summary>
public sealed class Sum : MultiInputLayer
{
    private Tensor? _y;
    private int _count;

    /// <inheritdoc/>
    public override int[] OutputShape(IReadOnlyList<int[]> inputShapes)
    {
        ArgumentNullException.ThrowIfNull(inputShapes);
        if (inputShapes.Count == 0) throw new ArgumentException("Sum needs at least one input; got none.", nameof(inputShapes));
        for (int i = 1; i < inputShapes.Count; i++)
            if (!inputShapes[i].AsSpan().SequenceEqual(inputShapes[0]))
                throw new ArgumentException($"Sum needs inputs of one shape; got {Shapes(inputShapes)}.", nameof(inputShapes));
        return (int[])inputShapes[0].Clone();
    }

    /// <inheritdoc/>
    public override Tensor Forward(IReadOnlyList<Tensor> inputs, bool training)
    {
        CheckInputs(inputs);
        var y = Tensor.Reuse(ref _y, OutputShape([.. inputs.Select(t => t.ShapeArray)]));
        inputs[0].Span.CopyTo(y.Span);
        for (int i = 1; i < inputs.Count; i++) System.Numerics.Tensors.TensorPrimitives.Add(y.Span, inputs[i].Span, y.Span);
        _count = inputs.Count;
        return y;
    }

    /// <inheritdoc/>
    public override IReadOnlyList<Tensor> BackwardMany(Tensor dy)
    {
        CheckSameShape(dy, _y, "Sum");
        return [.. Enumerable.Repeat(dy, _count)];
    }

    /// <inheritdoc/>
    public override long MultiplyAccumulates(IReadOnlyList<int[]> inputShapes)
    {
        long n = 1;
        foreach (int d in OutputShape(inputShapes)) n *= d;
        return n * (inputShapes.Count - 1);
    }

    /// <inheritdoc/>
    public override JsonObject ToSpec() => new() { ["type"] = TypeName };
    /// <summary>Rebuilds a <see cref="Sum"/> from <paramref name="spec"/>, the JSON its <see cref="Layer.ToSpec"/> writes (<see cref="LayerFactory"/> calls this).</summary>
    public static Sum FromSpec(JsonObject spec) => new();
    /// <inheritdoc/>
    public override string ToString() => "Sum()";
}
