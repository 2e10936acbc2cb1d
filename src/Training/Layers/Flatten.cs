using System.Text.Json.Nodes;
using MLConv.Training.Tensors;

namespace MLConv.Training.Layers;

/// <summary>[N, C, H, W] → [N, C·H·W] (a view; backward reshapes dy back).</summary>
public sealed class Flatten : Layer
{
    private int[]? _inShape;

    public override int[] OutputShape(int[] inputShape)
    {
        if (inputShape.Length < 2) throw new ArgumentException($"Flatten expects at least rank 2; got [{string.Join(", ", inputShape)}].", "x");
        long f = 1;
        for (int i = 1; i < inputShape.Length; i++)
        {
            f *= inputShape[i];
            if (f > int.MaxValue)
                throw new ArgumentException($"Flatten of [{string.Join(", ", inputShape)}] would give more than {int.MaxValue} features per sample.", "x");
        }
        return [inputShape[0], (int)f];
    }

    public override Tensor Forward(Tensor x, bool training)
    {
        ArgumentNullException.ThrowIfNull(x);
        _inShape = x.ShapeArray;
        return x.Reshape(OutputShape(_inShape));
    }

    public override Tensor Backward(Tensor dy)
    {
        if (_inShape is null) throw new InvalidOperationException("Flatten.Backward called before Forward.");
        return dy.Reshape(_inShape);
    }

    public override JsonObject ToSpec() => new() { ["type"] = TypeName };
    public static Flatten FromSpec(JsonObject spec) => new();
    public override string ToString() => "Flatten()";
}
