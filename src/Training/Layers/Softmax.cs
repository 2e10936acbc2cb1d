using System.Text.Json.Nodes;
using MLConv.Training.Tensors;

namespace MLConv.Training.Layers;

/// <summary>
/// Softmax (or log-softmax) as a layer (ONNX's Softmax / LogSoftmax nodes import to it and export back from it; training
/// uses <see cref="Losses.SoftmaxCrossEntropy"/> on logits instead). Without an axis it is row-wise over [N, K]; with
/// one it runs over that axis of a tensor of any rank, every other index fixed (ONNX opset 13's semantics: per pixel
/// over C of [N, C, H, W] for axis 1). Along one such line z, with m = max_k z_k (for stability):
///   softmax     y_k = exp(z_k − m) / Σ_j exp(z_j − m);      dx_k = y_k · (dy_k − Σ_j dy_j·y_j)
///   log-softmax y_k = z_k − m − log Σ_j exp(z_j − m);       dx_k = dy_k − exp(y_k) · Σ_j dy_j
/// </summary>
[SpecAlias("LogSoftmax")]
public sealed class Softmax : Layer
{
    private Tensor? _y, _dx;
    private float[] _line = [], _lineOut = [], _lineDy = [];

    /// <summary>A softmax (or log-softmax with <paramref name="log"/>) over <paramref name="axis"/>, or over the rows of [N, K] when null.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="axis"/> is below 1 (axis 0 is the batch).</exception>
    public Softmax(bool log = false, int? axis = null)
    {
        if (axis < 1) throw new ArgumentOutOfRangeException(nameof(axis), axis, "axis must be >= 1 (axis 0 is the batch).");
        Log = log;
        Axis = axis;
    }

    /// <summary>True for log-softmax.</summary>
    public bool Log { get; }

    /// <summary>The axis the softmax runs over; null for rows of an [N, K] input (axis 1 of rank 2 only).</summary>
    public int? Axis { get; }

    /// <inheritdoc/>
    public override string TypeName => Log ? "LogSoftmax" : "Softmax";

    /// <inheritdoc/>
    public override int[] OutputShape(int[] inputShape)
    {
        Check(inputShape, nameof(inputShape));
        return (int[])inputShape.Clone();
    }

    private void Check(ReadOnlySpan<int> shape, string paramName)
    {
        if (Axis is null) CheckRank(shape.ToArray(), 2, TypeName);
        else if (shape.Length <= Axis)
            throw new ArgumentException($"{this} needs an input of rank > {Axis}; got [{string.Join(", ", shape.ToArray())}].", paramName);
    }

    /// <summary>outer · K · inner = the input's size, K the softmax axis.</summary>
    private (int Outer, int K, int Inner) Lines(ReadOnlySpan<int> shape)
    {
        int axis = Axis ?? 1, outer = 1, inner = 1;
        for (int d = 0; d < axis; d++) outer *= shape[d];
        for (int d = axis + 1; d < shape.Length; d++) inner *= shape[d];
        return (outer, shape[axis], inner);
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor x, bool training)
    {
        if (Axis is null) CheckRank(x, 2, TypeName);
        else Check(x.Shape, nameof(x));
        var y = Tensor.Reuse(ref _y, x.ShapeArray);
        var (outer, k, inner) = Lines(x.Shape);
        if (inner > 1 && _line.Length != k) (_line, _lineOut, _lineDy) = (new float[k], new float[k], new float[k]);
        for (int o = 0; o < outer; o++)
            for (int i = 0; i < inner; i++)
            {
                // A line with inner = 1 is contiguous and is used in place; otherwise it is gathered with stride inner.
                int start = o * k * inner + i;
                var z = inner == 1 ? x.Data.AsSpan(start, k) : Gather(x.Data, start, inner, _line);
                var out_ = inner == 1 ? y.Data.AsSpan(start, k) : _lineOut.AsSpan();
                double logSumExp = Rows.Softmax(z, out_);
                if (Log) System.Numerics.Tensors.TensorPrimitives.Subtract(z, (float)logSumExp, out_);
                if (inner > 1) Scatter(out_, y.Data, start, inner);
            }
        return y;
    }

    /// <inheritdoc/>
    public override Tensor Backward(Tensor dy)
    {
        CheckSameShape(dy, _y, TypeName);
        var y = _y!;
        var dx = Tensor.Reuse(ref _dx, dy.ShapeArray);
        var (outer, k, inner) = Lines(dy.Shape);
        for (int o = 0; o < outer; o++)
            for (int i = 0; i < inner; i++)
            {
                int start = o * k * inner + i;
                var d = inner == 1 ? dy.Data.AsSpan(start, k) : Gather(dy.Data, start, inner, _lineDy);
                var ys = inner == 1 ? y.Data.AsSpan(start, k) : Gather(y.Data, start, inner, _line);
                var g = inner == 1 ? dx.Data.AsSpan(start, k) : _lineOut.AsSpan();
                if (Log)
                {
                    float s = System.Numerics.Tensors.TensorPrimitives.Sum(d);
                    for (int j = 0; j < k; j++) g[j] = d[j] - MathF.Exp(ys[j]) * s;
                }
                else
                {
                    float s = System.Numerics.Tensors.TensorPrimitives.Dot(d, ys);
                    for (int j = 0; j < k; j++) g[j] = ys[j] * (d[j] - s);
                }
                if (inner > 1) Scatter(g, dx.Data, start, inner);
            }
        return dx;
    }

    private static Span<float> Gather(float[] from, int start, int stride, float[] line)
    {
        for (int j = 0; j < line.Length; j++) line[j] = from[start + j * stride];
        return line;
    }

    private static void Scatter(ReadOnlySpan<float> line, float[] to, int start, int stride)
    {
        for (int j = 0; j < line.Length; j++) to[start + j * stride] = line[j];
    }

    /// <inheritdoc/>
    public override JsonObject ToSpec()
    {
        var spec = new JsonObject { ["type"] = TypeName };
        if (Axis is int axis) spec["axis"] = axis;
        return spec;
    }

    /// <summary>Reads "Softmax" and "LogSoftmax" specs (<see cref="TypeName"/> tells the two apart) with their axis, if any.</summary>
    public static Softmax FromSpec(JsonObject spec) =>
        new(log: Spec.String(spec, "type") == "LogSoftmax", axis: spec.ContainsKey("axis") ? Spec.Int(spec, "axis") : null);

    /// <inheritdoc/>
    public override string ToString() => $"{(Log ? "LogSoftmax" : "Softmax")}(dim={Axis ?? 1})";
}
