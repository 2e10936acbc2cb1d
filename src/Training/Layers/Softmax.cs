using System.Text.Json.Nodes;
using MLConv.Training.Tensors;

namespace MLConv.Training.Layers;

/// <summary>
/// Row-wise softmax (or log-softmax) of [N, K] as a layer (ONNX's Softmax / LogSoftmax nodes import to it and export
/// back from it; training uses <see cref="Losses.SoftmaxCrossEntropy"/> on logits instead). With m = max_k z_k (for stability):
///   softmax     y_k = exp(z_k − m) / Σ_j exp(z_j − m);      dx_k = y_k · (dy_k − Σ_j dy_j·y_j)
///   log-softmax y_k = z_k − m − log Σ_j exp(z_j − m);       dx_k = dy_k − exp(y_k) · Σ_j dy_j
/// </summary>
[SpecAlias("LogSoftmax")]
public sealed class Softmax(bool log = false) : Layer
{
    private Tensor? _y, _dx;

    public bool Log { get; } = log;

    public override string TypeName => Log ? "LogSoftmax" : "Softmax";

    public override int[] OutputShape(int[] inputShape)
    {
        CheckRank(inputShape, 2, TypeName);
        return (int[])inputShape.Clone();
    }

    public override Tensor Forward(Tensor x, bool training)
    {
        CheckRank(x, 2, TypeName);
        var y = Tensor.Reuse(ref _y, x.ShapeArray);
        int n = x.N, k = x.C;
        for (int i = 0; i < n; i++)
        {
            var z = x.Data.AsSpan(i * k, k);
            var o = y.Data.AsSpan(i * k, k);
            double logSumExp = Rows.Softmax(z, o);
            if (Log) System.Numerics.Tensors.TensorPrimitives.Subtract(z, (float)logSumExp, o);
        }
        return y;
    }

    public override Tensor Backward(Tensor dy)
    {
        CheckSameShape(dy, _y, TypeName);
        var y = _y!;
        var dx = Tensor.Reuse(ref _dx, dy.ShapeArray);
        int n = dy.N, k = dy.C;
        for (int i = 0; i < n; i++)
        {
            var d = dy.Data.AsSpan(i * k, k);
            var ys = y.Data.AsSpan(i * k, k);
            var o = dx.Data.AsSpan(i * k, k);
            if (Log)
            {
                float s = System.Numerics.Tensors.TensorPrimitives.Sum(d);
                for (int j = 0; j < k; j++) o[j] = d[j] - MathF.Exp(ys[j]) * s;
            }
            else
            {
                float s = System.Numerics.Tensors.TensorPrimitives.Dot(d, ys);
                for (int j = 0; j < k; j++) o[j] = ys[j] * (d[j] - s);
            }
        }
        return dx;
    }

    public override JsonObject ToSpec() => new() { ["type"] = TypeName };
    /// <summary>Reads "Softmax" and "LogSoftmax" specs (<see cref="TypeName"/> tells the two apart).</summary>
    public static Softmax FromSpec(JsonObject spec) => new(log: Spec.String(spec, "type") == "LogSoftmax");

    public override string ToString() => Log ? "LogSoftmax(dim=1)" : "Softmax(dim=1)";
}
