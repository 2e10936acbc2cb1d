using System.Text.Json.Nodes;
using MLConv.Training.Tensors;

namespace MLConv.Training.Layers;

/// <summary>[N, C, H, W] → [N, C, 1, 1], the maximum of each plane (ONNX GlobalMaxPool). dx is dy at the plane's first maximum, 0 elsewhere.</summary>
public sealed class GlobalMaxPool2d : Layer
{
    private Tensor? _y, _dx;
    private int[]? _inShape;
    private int[] _argMax = [];

    /// <inheritdoc/>
    public override int[] OutputShape(int[] inputShape)
    {
        CheckRank(inputShape, 4, "GlobalMaxPool2d");
        if (inputShape[2] * inputShape[3] == 0) throw new ArgumentException("GlobalMaxPool2d: the input planes are empty.", "x");
        return [inputShape[0], inputShape[1], 1, 1];
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor x, bool training)
    {
        CheckRank(x, 4, "GlobalMaxPool2d");
        _inShape = x.ShapeArray;
        var y = Tensor.Reuse(ref _y, OutputShape(_inShape));
        int plane = x.H * x.W, planes = x.N * x.C;
        if (_argMax.Length != planes) _argMax = new int[planes];
        for (int p = 0; p < planes; p++)
        {
            var s = x.Data.AsSpan(p * plane, plane);
            int best = System.Numerics.Tensors.TensorPrimitives.IndexOfMax(s);
            _argMax[p] = best;
            y[p] = s[best];
        }
        return y;
    }

    /// <inheritdoc/>
    public override Tensor Backward(Tensor dy)
    {
        CheckSameShape(dy, _y, "GlobalMaxPool2d");
        var dx = Tensor.Reuse(ref _dx, _inShape!);
        dx.Clear();
        int plane = dx.H * dx.W, planes = dx.N * dx.C;
        for (int p = 0; p < planes; p++) dx[p * plane + _argMax[p]] = dy[p];
        return dx;
    }

    /// <summary>The window is the whole plane.</summary>
    public override (Size2 Kernel, Size2 Stride) SpatialWindow(int[] inputShape) => ((inputShape[2], inputShape[3]), 1);

    /// <inheritdoc/>
    public override JsonObject ToSpec() => new() { ["type"] = TypeName };
    /// <summary>Rebuilds a <see cref="GlobalMaxPool2d"/> from <paramref name="spec"/>, the JSON its <see cref="Layer.ToSpec"/> writes (<see cref="LayerFactory"/> calls this).</summary>
    public static GlobalMaxPool2d FromSpec(JsonObject spec) => new();
    /// <inheritdoc/>
    public override string ToString() => "GlobalMaxPool2d()";
}
