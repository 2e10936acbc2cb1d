using System.Text.Json.Nodes;
using MLConv.Training.Kernels;
using MLConv.Training.Tensors;

namespace MLConv.Training.Layers;

/// <summary>
/// Element-wise sum of N inputs of one shape (ResNet and ShuffleNet shortcuts, ONNX Sum / Add):
///   forward   y = Σ_i x_i   (an <see cref="InferencePlan"/> may fuse the ReLU that follows: y = max(Σ_i x_i, 0) in inference)
///   backward  dx_i = dy for every i  (the same tensor dy, not copies)
/// </summary>
public sealed class Sum : MultiInputLayer, IReLUJoin
{
    private Tensor? _y;
    private int _count;

    /// <summary>Set by an <see cref="InferencePlan"/>: the ReLU that reads only this sum, applied by the sum in inference-mode forwards.</summary>
    internal ReLU? FusedReLU { get; set; }

    ReLU? IReLUJoin.FusedReLU { get => FusedReLU; set => FusedReLU = value; }

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
        var first = inputs[0];
        for (int i = 1; i < inputs.Count; i++)
            if (!inputs[i].ShapeEquals(first.Shape)) OutputShape([.. inputs.Select(t => t.ShapeArray)]);   // throws, naming the shapes
        var y = Tensor.Reuse(ref _y, first.ShapeArray);
        _count = inputs.Count;
        bool relu = !training && FusedReLU is not null;
        // y = x_0 + x_1 (+ …), the last add with the fused ReLU (inference plan): max(Σ x_i, 0)
        if (inputs.Count == 1)
        {
            if (relu) System.Numerics.Tensors.TensorPrimitives.Max(first.Span, 0f, y.Span);
            else first.Span.CopyTo(y.Span);
            return y;
        }
        var acc = first.Data;
        for (int i = 1; i < inputs.Count; i++)
        {
            AddReLU.Run(acc, inputs[i].Data, y.Data, y.Length, relu && i == inputs.Count - 1);
            acc = y.Data;
        }
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
