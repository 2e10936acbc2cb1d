using System.Text.Json.Nodes;
using MLConv.Training.Tensors;

namespace MLConv.Training.Layers;

/// <summary>
/// Splits its input along an axis into parts of the given sizes (PyTorch's torch.split / chunk, ONNX Split; GLU's two
/// halves). With outer = Π_{d &lt; axis} shape_d, inner = Π_{d &gt; axis} shape_d and offset_k = Σ_{j &lt; k} sizes_j:
///   forward   y_k[o, j, r] = x[o, offset_k + j, r]
///   backward  dx[o, offset_k + j, r] = dy_k[o, j, r]   (0 where output k receives no gradient)
/// Axis 1 splits the channels; axis 0 splits the batch itself, which only makes sense for inputs of a fixed size (a 1-D
/// tensor's chunks).
/// </summary>
public sealed class Split : MultiOutputLayer
{
    private readonly int[] _sizes;
    private readonly Tensor?[] _y;
    private int[] _inShape = [];
    private Tensor? _dx;

    /// <summary>Splits along <paramref name="axis"/> into parts of <paramref name="sizes"/> (they must add up to the input's size there).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="axis"/> is negative.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="sizes"/> is null.</exception>
    /// <exception cref="ArgumentException">No parts, or a part of size below 1.</exception>
    public Split(int axis, params int[] sizes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(axis);
        ArgumentNullException.ThrowIfNull(sizes);
        if (sizes.Length < 1 || sizes.Any(s => s < 1))
            throw new ArgumentException($"sizes must hold at least one part, each of size >= 1; got [{string.Join(", ", sizes)}].", nameof(sizes));
        Axis = axis;
        _sizes = (int[])sizes.Clone();
        _y = new Tensor?[sizes.Length];
    }

    /// <summary>The axis split.</summary>
    public int Axis { get; }

    /// <summary>The size of each part along <see cref="Axis"/>.</summary>
    public IReadOnlyList<int> Sizes => _sizes;

    /// <inheritdoc/>
    public override int OutputCount => _sizes.Length;

    /// <inheritdoc/>
    public override IReadOnlyList<int[]> OutputShapes(int[] inputShape)
    {
        ArgumentNullException.ThrowIfNull(inputShape);
        if (inputShape.Length <= Axis)
            throw new ArgumentException($"Split along axis {Axis} needs an input of rank > {Axis}; got [{string.Join(", ", inputShape)}].", nameof(inputShape));
        if (inputShape[Axis] != _sizes.Sum())
            throw new ArgumentException($"Split into [{string.Join(", ", _sizes)}] along axis {Axis} needs {_sizes.Sum()} there; got [{string.Join(", ", inputShape)}].", nameof(inputShape));
        return [.. _sizes.Select(s => { var y = (int[])inputShape.Clone(); y[Axis] = s; return y; })];
    }

    /// <inheritdoc/>
    public override IReadOnlyList<Tensor> ForwardMany(Tensor x, bool training)
    {
        ArgumentNullException.ThrowIfNull(x);
        var shapes = OutputShapes(x.ShapeArray);
        _inShape = x.ShapeArray;
        int outer = Outer(_inShape), row = x.Length / Math.Max(1, outer), offset = 0;
        var ys = new Tensor[_sizes.Length];
        for (int k = 0; k < _sizes.Length; k++)
        {
            var y = Tensor.Reuse(ref _y[k], shapes[k]);
            int part = y.Length / Math.Max(1, outer);
            var src = x.Span;
            var dst = y.Span;
            for (int o = 0; o < outer; o++) src.Slice(o * row + offset, part).CopyTo(dst.Slice(o * part, part));
            offset += part;
            ys[k] = y;
        }
        return ys;
    }

    /// <inheritdoc/>
    public override Tensor BackwardMany(IReadOnlyList<Tensor?> dys)
    {
        ArgumentNullException.ThrowIfNull(dys);
        if (_inShape.Length == 0) throw BackwardBeforeForward();
        if (dys.Count != _sizes.Length) throw new ArgumentException($"Split.BackwardMany expects {_sizes.Length} gradients (null for none); got {dys.Count}.", nameof(dys));
        var dx = Tensor.Reuse(ref _dx, _inShape);
        int outer = Outer(_inShape), row = dx.Length / Math.Max(1, outer), offset = 0;
        for (int k = 0; k < _sizes.Length; k++)
        {
            var y = _y[k]!;
            int part = y.Length / Math.Max(1, outer);
            if (dys[k] is { } dy)
            {
                CheckSameShape(dy, y, "Split");
                var src = dy.Span;
                var dst = dx.Span;
                for (int o = 0; o < outer; o++) src.Slice(o * part, part).CopyTo(dst.Slice(o * row + offset, part));
            }
            else
                for (int o = 0; o < outer; o++) dx.Span.Slice(o * row + offset, part).Clear();
            offset += part;
        }
        return dx;
    }

    private int Outer(int[] shape)
    {
        int outer = 1;
        for (int d = 0; d < Axis; d++) outer *= shape[d];
        return outer;
    }

    /// <inheritdoc/>
    public override JsonObject ToSpec() => new() { ["type"] = TypeName, ["axis"] = Axis, ["sizes"] = new JsonArray([.. _sizes.Select(s => (JsonNode)s)]) };
    /// <summary>Rebuilds a <see cref="Split"/> from <paramref name="spec"/>, the JSON its <see cref="Layer.ToSpec"/> writes (<see cref="LayerFactory"/> calls this).</summary>
    public static Split FromSpec(JsonObject spec) => new(Spec.Int(spec, "axis"), Spec.Ints(spec, "sizes"));
    /// <inheritdoc/>
    public override string ToString() => $"Split(dim={Axis}, sizes=[{string.Join(", ", _sizes)}])";
}
