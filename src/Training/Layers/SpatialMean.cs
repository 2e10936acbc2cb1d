using System.Text.Json.Nodes;
using MLConv.Training.Tensors;

namespace MLConv.Training.Layers;

/// <summary>
/// The mean over H and W of [N, C, H, W]: [N, C, 1, 1] with <see cref="KeepDims"/>, else [N, C] (ONNX ReduceMean over axes
/// 2 and 3; PyTorch's x.mean((2, 3), keepdim)). dx = dy / (H·W) everywhere.
/// </summary>
public sealed class SpatialMean(bool keepDims = true) : Layer
{
    // The mean itself is GlobalAvgPool2d's; without KeepDims its [N, C, 1, 1] is copied to and from [N, C].
    private readonly GlobalAvgPool2d _pool = new();
    private Tensor? _flat, _dy4;

    /// <summary>True: the output is [N, C, 1, 1]; false: [N, C].</summary>
    public bool KeepDims { get; } = keepDims;

    /// <inheritdoc/>
    public override int[] OutputShape(int[] inputShape)
    {
        CheckRank(inputShape, 4, "SpatialMean");
        return KeepDims ? [inputShape[0], inputShape[1], 1, 1] : [inputShape[0], inputShape[1]];
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor x, bool training)
    {
        CheckRank(x, 4, "SpatialMean");
        var y = _pool.Forward(x, training);
        if (KeepDims) return y;
        var flat = Tensor.Reuse(ref _flat, x.N, x.C);
        y.Span.CopyTo(flat.Span);
        return flat;
    }

    /// <inheritdoc/>
    public override Tensor Backward(Tensor dy)
    {
        if (KeepDims) return _pool.Backward(dy);
        CheckSameShape(dy, _flat, "SpatialMean");
        var dy4 = Tensor.Reuse(ref _dy4, dy.Shape[0], dy.Shape[1], 1, 1);
        dy.Span.CopyTo(dy4.Span);
        return _pool.Backward(dy4);
    }

    /// <inheritdoc/>
    public override long MultiplyAccumulates(int[] inputShape) => (long)inputShape[0] * inputShape[1] * inputShape[2] * inputShape[3];

    /// <summary>The window is the whole plane.</summary>
    public override (Size2 Kernel, Size2 Stride) SpatialWindow(int[] inputShape) => ((inputShape[2], inputShape[3]), 1);

    /// <inheritdoc/>
    public override JsonObject ToSpec() => new() { ["type"] = TypeName, ["keepDims"] = KeepDims };
    /// <summary>Rebuilds a <see cref="SpatialMean"/> from <paramref name="spec"/>, the JSON its <see cref="Layer.ToSpec"/> writes (<see cref="LayerFactory"/> calls this).</summary>
    public static SpatialMean FromSpec(JsonObject spec) => new(Spec.Bool(spec, "keepDims"));
    /// <inheritdoc/>
    public override string ToString() => $"SpatialMean(keepdim={(KeepDims ? "True" : "False")})";
}
