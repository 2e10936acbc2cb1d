using System.Text.Json.Nodes;
using MLConv.Training.Tensors;

namespace MLConv.Training.Layers;

/// <summary>y = −x; dx = −dy (ONNX Neg).</summary>
public sealed class Negate : Layer
{
    private Tensor? _y, _dx;

    /// <inheritdoc/>
    public override int[] OutputShape(int[] inputShape) => (int[])inputShape.Clone();

    /// <inheritdoc/>
    public override Tensor Forward(Tensor x, bool training)
    {
        ArgumentNullException.ThrowIfNull(x);
        var y = Tensor.Reuse(ref _y, x.ShapeArray);
        System.Numerics.Tensors.TensorPrimitives.Negate(x.Span, y.Span);
        return y;
    }

    /// <inheritdoc/>
    public override Tensor Backward(Tensor dy)
    {
        CheckSameShape(dy, _y, "Negate");
        var dx = Tensor.Reuse(ref _dx, dy.ShapeArray);
        System.Numerics.Tensors.TensorPrimitives.Negate(dy.Span, dx.Span);
        return dx;
    }

    /// <inheritdoc/>
    public override JsonObject ToSpec() => new() { ["type"] = TypeName };
    /// <summary>Rebuilds a <see cref="Negate"/> from <paramref name="spec"/>, the JSON its <see cref="Layer.ToSpec"/> writes (<see cref="LayerFactory"/> calls this).</summary>
    public static Negate FromSpec(JsonObject spec) => new();
    /// <inheritdoc/>
    public override string ToString() => "Negate()";
}
