using System.Text.Json.Nodes;
using MLConv.Training.Tensors;

namespace MLConv.Training.Layers;

/// <summary>
/// Reshapes each sample, keeping the batch axis: [N, d_1, …] → [N, shape…] with ONNX Reshape's rules
/// applied after the batch axis — an entry 0 copies the input's dimension at the same position
/// (shape[i] ← d_(i+1)), one entry −1 is inferred from the element count. The data is not moved:
///   forward   y = x viewed as [N, shape…]      backward  dx = dy viewed as x's shape
/// </summary>
public sealed class Reshape : Layer
{
    private readonly int[] _shape;
    private int[]? _inShape, _outShape;

    /// <summary>Reshapes each sample to <paramref name="shape"/> (the dims after the batch axis; 0 copies the input's, one −1 is inferred).</summary>
    /// <exception cref="ArgumentNullException"><paramref name="shape"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="shape"/> is empty, has an entry below −1, or more than one −1.</exception>
    public Reshape(params int[] shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        if (shape.Length == 0) throw new ArgumentException("shape must name at least one dimension after the batch axis.", nameof(shape));
        if (shape.Any(d => d < -1) || shape.Count(d => d == -1) > 1)
            throw new ArgumentException($"shape entries must be >= 0, or one -1 to infer; got [{string.Join(", ", shape)}].", nameof(shape));
        _shape = (int[])shape.Clone();
    }

    /// <summary>The target after the batch axis, as given (0 and −1 unresolved).</summary>
    public IReadOnlyList<int> Shape => _shape;

    /// <inheritdoc/>
    public override int[] OutputShape(int[] inputShape)
    {
        if (inputShape.Length < 1) throw new ArgumentException("Reshape expects an input with a batch axis; got rank 0.", nameof(inputShape));
        return [inputShape[0], .. Resolve(inputShape.AsSpan(1), [.. _shape.Select(d => (long)d)], nameof(inputShape))];
    }

    /// <summary>
    /// ONNX Reshape's rule (allowzero 0) for a whole shape: an entry 0 copies <paramref name="input"/>'s dimension at
    /// the same position, one −1 is inferred from the element count. Throws <see cref="ArgumentException"/> (naming
    /// <paramref name="paramName"/>) when the target does not fit.
    /// </summary>
    public static int[] Resolve(ReadOnlySpan<int> input, ReadOnlySpan<long> target, string paramName = "target")
    {
        string Describe(ReadOnlySpan<int> i, ReadOnlySpan<long> t) => $"Reshape [{string.Join(", ", t.ToArray())}] of [{string.Join(", ", i.ToArray())}]";
        long total = 1;
        foreach (int d in input) total *= d;
        var y = new int[target.Length];
        long known = 1;
        int infer = -1;
        for (int i = 0; i < target.Length; i++)
        {
            long d = target[i];
            if (d == 0)
            {
                if (i >= input.Length) throw new ArgumentException($"{Describe(input, target)}: entry {i} copies an input dimension the input lacks.", paramName);
                d = input[i];
            }
            if (d == -1 && infer < 0) { infer = i; continue; }
            if (d < 0 || d > int.MaxValue) throw new ArgumentException($"{Describe(input, target)}: entry {i} ({d}) is not a dimension.", paramName);
            y[i] = (int)d;
            known *= d;
        }
        if (infer >= 0)
        {
            if (known == 0 || total % known != 0)
                throw new ArgumentException($"{Describe(input, target)}: cannot infer -1 ({total} values).", paramName);
            y[infer] = (int)(total / known);
        }
        else if (known != total)
            throw new ArgumentException($"{Describe(input, target)}: the target needs {known} values; the input has {total}.", paramName);
        return y;
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor x, bool training)
    {
        ArgumentNullException.ThrowIfNull(x);
        _inShape = x.ShapeArray;
        _outShape = OutputShape(_inShape);
        return x.Reshape(_outShape);
    }

    /// <inheritdoc/>
    public override Tensor Backward(Tensor dy)
    {
        ArgumentNullException.ThrowIfNull(dy);
        if (_inShape is null) throw new InvalidOperationException("Reshape.Backward called before Forward.");
        if (!dy.ShapeEquals(_outShape))
            throw new ArgumentException($"Reshape.Backward expects dy of shape [{string.Join(", ", _outShape!)}] (the last output); got [{dy.ShapeString}].", nameof(dy));
        return dy.Reshape(_inShape);
    }

    /// <inheritdoc/>
    public override JsonObject ToSpec() => new() { ["type"] = TypeName, ["shape"] = new JsonArray([.. _shape.Select(d => (JsonNode)d)]) };
    /// <summary>Rebuilds a <see cref="Reshape"/> from <paramref name="spec"/>, the JSON its <see cref="Layer.ToSpec"/> writes (<see cref="LayerFactory"/> calls this).</summary>
    public static Reshape FromSpec(JsonObject spec) => new(Spec.Ints(spec, "shape"));
    /// <inheritdoc/>
    public override string ToString() => $"Reshape(-1, {string.Join(", ", _shape)})";
}
