using System.Text.Json.Nodes;
using MLConv.Training.Kernels;
using MLConv.Training.Tensors;

namespace MLConv.Training.Layers;

/// <summary>
/// Concatenation of N inputs along an axis (1 = channels: Inception modules, SqueezeNet fire modules,
/// DenseNet). The inputs agree on every other dimension. With outer = Π_{d &lt; axis} shape_d,
/// inner = Π_{d &gt; axis} shape_d and offset_i = Σ_{j &lt; i} shape_j[axis]:
///   forward   y[o, offset_i + k, r] = x_i[o, k, r]
///   backward  dx_i[o, k, r] = dy[o, offset_i + k, r]   (each input gets its own slice of dy)
/// </summary>
public sealed class Concat : MultiInputLayer
{
    private int[][] _inShapes = [];
    private Tensor? _y;
    private Tensor?[] _dx = [];
    private int[] _offsets = [];

    /// <summary>Concatenates its inputs along <paramref name="axis"/> (default 1: channels).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="axis"/> is below 1 (axis 0 is the batch).</exception>
    public Concat(int axis = 1)
    {
        if (axis < 1) throw new ArgumentOutOfRangeException(nameof(axis), axis, "axis must be >= 1 (axis 0 is the batch).");
        Axis = axis;
    }

    /// <summary>The axis joined (≥ 1).</summary>
    public int Axis { get; }

    /// <inheritdoc/>
    public override int[] OutputShape(IReadOnlyList<int[]> inputShapes)
    {
        ArgumentNullException.ThrowIfNull(inputShapes);
        if (inputShapes.Count == 0) throw new ArgumentException("Concat needs at least one input; got none.", nameof(inputShapes));
        var first = inputShapes[0];
        if (first.Length <= Axis)
            throw new ArgumentException($"Concat along axis {Axis} needs inputs of rank > {Axis}; got {Shapes(inputShapes)}.", nameof(inputShapes));
        var y = (int[])first.Clone();
        for (int i = 1; i < inputShapes.Count; i++)
        {
            var s = inputShapes[i];
            bool fits = s.Length == first.Length;
            for (int d = 0; fits && d < s.Length; d++) fits = d == Axis || s[d] == first[d];
            if (!fits)
                throw new ArgumentException($"Concat along axis {Axis}: the inputs must agree on every other dimension; got {Shapes(inputShapes)}.", nameof(inputShapes));
            y[Axis] += s[Axis];
        }
        return y;
    }

    /// <inheritdoc/>
    public override Tensor Forward(IReadOnlyList<Tensor> inputs, bool training)
    {
        CheckInputs(inputs);
        _inShapes = [.. inputs.Select(t => t.ShapeArray)];
        var y = Tensor.Reuse(ref _y, OutputShape(_inShapes));
        int outer = Outer(y.ShapeArray), outRow = y.Length / Math.Max(1, outer), offset = 0;
        if (_offsets.Length != inputs.Count + 1) _offsets = new int[inputs.Count + 1];
        for (int i = 0; i < inputs.Count; i++)
        {
            _offsets[i] = offset;
            offset += inputs[i].Length / Math.Max(1, outer);
        }
        _offsets[inputs.Count] = offset;
        // One copy per (outer index, input), spread over the threads when large (pure copies: any split, same result).
        Parallelism.For(outer * inputs.Count, outRow / inputs.Count, (Inputs: inputs, Y: y.Data, Offsets: _offsets, OutRow: outRow),
            static (in (IReadOnlyList<Tensor> Inputs, float[] Y, int[] Offsets, int OutRow) t, int item) =>
            {
                int o = item / t.Inputs.Count, i = item % t.Inputs.Count, row = t.Offsets[i + 1] - t.Offsets[i];
                t.Inputs[i].Data.AsSpan(o * row, row).CopyTo(t.Y.AsSpan(o * t.OutRow + t.Offsets[i], row));
            });
        return y;
    }

    /// <inheritdoc/>
    public override IReadOnlyList<Tensor> BackwardMany(Tensor dy)
    {
        CheckSameShape(dy, _y, "Concat");
        if (_dx.Length != _inShapes.Length) _dx = new Tensor?[_inShapes.Length];
        int outer = Outer(dy.ShapeArray), outRow = dy.Length / Math.Max(1, outer), offset = 0;
        var result = new Tensor[_inShapes.Length];
        for (int i = 0; i < _inShapes.Length; i++)
        {
            var dx = Tensor.Reuse(ref _dx[i], _inShapes[i]);
            int row = dx.Length / Math.Max(1, outer);
            var src = dy.Span;
            var dst = dx.Span;
            for (int o = 0; o < outer; o++) src.Slice(o * outRow + offset, row).CopyTo(dst.Slice(o * row, row));
            offset += row;
            result[i] = dx;
        }
        return result;
    }

    private int Outer(int[] shape)
    {
        int outer = 1;
        for (int d = 0; d < Axis; d++) outer *= shape[d];
        return outer;
    }

    /// <inheritdoc/>
    public override JsonObject ToSpec() => new() { ["type"] = TypeName, ["axis"] = Axis };
    /// <summary>Rebuilds a <see cref="Concat"/> from <paramref name="spec"/>, the JSON its <see cref="Layer.ToSpec"/> writes (<see cref="LayerFactory"/> calls this).</summary>
    public static Concat FromSpec(JsonObject spec) => new(Spec.Int(spec, "axis"));
    /// <inheritdoc/>
    public override string ToString() => $"Concat(dim={Axis})";
}
