using System.Text.Json.Nodes;
using MLConv.Training.Tensors;

namespace MLConv.Training.Layers;

/// <summary>
/// The mean over H and W of [N, C, H, W]: [N, C, 1, 1] with <see cref="KeepDims"/>, else [N, C] (ONNX ReduceMean over axes
/// 2 and 3; PyTorch's x.mean((2, 3), keepdim)). dx = dy / (H·W) everywhere.
/// </summary>
public sealed class SpatialMean(bool keepDims = true) : Layer
{
    private Tensor? _y, _dx;
    private int[]? _inShape;

    public bool KeepDims { get; } = keepDims;

    public override int[] OutputShape(int[] inputShape)
    {
        CheckRank(inputShape, 4, "SpatialMean");
        return KeepDims ? [inputShape[0], inputShape[1], 1, 1] : [inputShape[0], inputShape[1]];
    }

    public override Tensor Forward(Tensor x, bool training)
    {
        CheckRank(x, 4, "SpatialMean");
        _inShape = x.ShapeArray;
        var y = Tensor.Reuse(ref _y, OutputShape(_inShape));
        int plane = x.H * x.W, planes = x.N * x.C;
        for (int p = 0; p < planes; p++)
            y[p] = System.Numerics.Tensors.TensorPrimitives.Sum(x.Data.AsSpan(p * plane, plane)) / plane;
        return y;
    }

    public override Tensor Backward(Tensor dy)
    {
        CheckSameShape(dy, _y, "SpatialMean");
        var dx = Tensor.Reuse(ref _dx, _inShape!);
        int plane = dx.H * dx.W, planes = dx.N * dx.C;
        for (int p = 0; p < planes; p++) dx.Data.AsSpan(p * plane, plane).Fill(dy[p] / plane);
        return dx;
    }

    public override long MultiplyAccumulates(int[] inputShape) => (long)inputShape[0] * inputShape[1] * inputShape[2] * inputShape[3];

    /// <summary>The window is the whole plane.</summary>
    public override (Size2 Kernel, Size2 Stride) SpatialWindow(int[] inputShape) => ((inputShape[2], inputShape[3]), 1);

    public override JsonObject ToSpec() => new() { ["type"] = TypeName, ["keepDims"] = KeepDims };
    public static SpatialMean FromSpec(JsonObject spec) => new(Spec.Bool(spec, "keepDims"));
    public override string ToString() => $"SpatialMean(keepdim={(KeepDims ? "True" : "False")})";
}
