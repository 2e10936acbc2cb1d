using System.Text.Json.Nodes;
using MLConv.Training.Tensors;

namespace MLConv.Training.Layers;

/// <summary>[N, C, H, W] → [N, C·H·W] (a view; backward reshapes dy back).</summary>
public sealed class Flatten : Layer
{
    private int[]? _inShape;

    /// <inheritdoc/>
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

    /// <inheritdoc/>
    public override Tensor Forward(Tensor x, bool training)
    {
        ArgumentNullException.ThrowIfNull(x);
        _inShape = x.ShapeArray;
        return x.Reshape(OutputShape(_inShape));
    }

    /// <inheritdoc/>
    public override Tensor Backward(Tensor dy)
    {
        if (_inShape is null) throw new InvalidOperationException("Flatten.Backward called before Forward.");
        return dy.Reshape(_inShape);
    }

    /// <inheritdoc/>
    public override JsonObject ToSpec() => new() { ["type"] = TypeName };
    /// <summary>Rebuilds a <see cref="Flatten"/> from <paramref name="spec"/>, the JSON its <see cref="Layer.ToSpec"/> writes (<see cref="LayerFactory"/> calls this).</summary>
    public static Flatten FromSpec(JsonObject spec) => new();
    /// <inheritdoc/>
    public override string ToString() => "Flatten()";
}
