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

    public override int[] OutputShape(int[] inputShape)
    {
        if (inputShape.Length < 1) throw new ArgumentException("Reshape expects an input with a batch axis; got rank 0.", nameof(inputShape));
        long perSample = 1;
        for (int i = 1; i < inputShape.Length; i++) perSample *= inputShape[i];
        var y = new int[_shape.Length + 1];
        y[0] = inputShape[0];
        long known = 1;
        int infer = -1;
        for (int i = 0; i < _shape.Length; i++)
        {
            int d = _shape[i];
            if (d == 0)
            {
                if (i + 1 >= inputShape.Length)
                    throw new ArgumentException($"Reshape [{string.Join(", ", _shape)}]: entry {i} copies input dimension {i + 1}, which [{string.Join(", ", inputShape)}] lacks.", nameof(inputShape));
                d = inputShape[i + 1];
            }
            if (d == -1) infer = i + 1;
            else known *= d;
            y[i + 1] = d;
        }
        if (infer >= 0)
        {
            if (known == 0 || perSample % known != 0)
                throw new ArgumentException($"Reshape [{string.Join(", ", _shape)}] cannot infer -1 from [{string.Join(", ", inputShape)}] ({perSample} values per sample).", nameof(inputShape));
            y[infer] = (int)(perSample / known);
        }
        else if (known != perSample)
            throw new ArgumentException($"Reshape [{string.Join(", ", _shape)}] needs {known} values per sample; [{string.Join(", ", inputShape)}] has {perSample}.", nameof(inputShape));
        return y;
    }

    public override Tensor Forward(Tensor x, bool training)
    {
        ArgumentNullException.ThrowIfNull(x);
        _inShape = x.ShapeArray;
        _outShape = OutputShape(_inShape);
        return x.Reshape(_outShape);
    }

    public override Tensor Backward(Tensor dy)
    {
        ArgumentNullException.ThrowIfNull(dy);
        if (_inShape is null) throw new InvalidOperationException("Reshape.Backward called before Forward.");
        if (!dy.ShapeEquals(_outShape))
            throw new ArgumentException($"Reshape.Backward expects dy of shape [{string.Join(", ", _outShape!)}] (the last output); got [{dy.ShapeString}].", nameof(dy));
        return dy.Reshape(_inShape);
    }

    public override JsonObject ToSpec() => new() { ["type"] = TypeName, ["shape"] = new JsonArray([.. _shape.Select(d => (JsonNode)d)]) };
    public override string ToString() => $"Reshape(-1, {string.Join(", ", _shape)})";
}
