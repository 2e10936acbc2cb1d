using System.Text.Json.Nodes;
using MLConv.Training.Tensors;

namespace MLConv.Training.Layers;

/// <summary>[N, C, H, W] → [N, C, 1, 1], the mean of each plane (ONNX GlobalAveragePool). dx = dy / (H·W) everywhere.</summary>
public sealed class GlobalAvgPool2d : Layer
{
    private Tensor? _y, _dx;
    private int[]? _inShape;

    /// <inheritdoc/>
    public override int[] OutputShape(int[] inputShape)
    {
        CheckRank(inputShape, 4, "GlobalAvgPool2d");
        return [inputShape[0], inputShape[1], 1, 1];
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor x, bool training)
    {
        CheckRank(x, 4, "GlobalAvgPool2d");
        _inShape = x.ShapeArray;
        var y = Tensor.Reuse(ref _y, OutputShape(_inShape));
        int plane = x.H * x.W, planes = x.N * x.C;
        for (int p = 0; p < planes; p++)
            y[p] = System.Numerics.Tensors.TensorPrimitives.Sum(x.Data.AsSpan(p * plane, plane)) / plane;
        return y;
    }

    /// <inheritdoc/>
    public override Tensor Backward(Tensor dy)
    {
        CheckSameShape(dy, _y, "GlobalAvgPool2d");
        var dx = Tensor.Reuse(ref _dx, _inShape!);
        int plane = dx.H * dx.W, planes = dx.N * dx.C;
        for (int p = 0; p < planes; p++) dx.Data.AsSpan(p * plane, plane).Fill(dy[p] / plane);
        return dx;
    }

    /// <inheritdoc/>
    public override long MultiplyAccumulates(int[] inputShape) => (long)inputShape[0] * inputShape[1] * inputShape[2] * inputShape[3];

    /// <summary>The window is the whole plane.</summary>
    public override (Size2 Kernel, Size2 Stride) SpatialWindow(int[] inputShape) => ((inputShape[2], inputShape[3]), 1);

    /// <inheritdoc/>
    public override JsonObject ToSpec() => new() { ["type"] = TypeName };
    /// <summary>Rebuilds a <see cref="GlobalAvgPool2d"/> from <paramref name="spec"/>, the JSON its <see cref="Layer.ToSpec"/> writes (<see cref="LayerFactory"/> calls this).</summary>
    public static GlobalAvgPool2d FromSpec(JsonObject spec) => new();
    /// <inheritdoc/>
    public override string ToString() => "GlobalAvgPool2d()";
}
