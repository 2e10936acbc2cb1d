using DataType = global::Onnx.TensorProto.Types.DataType;
using MLConv.Training.Layers;
using MLConv.Training.Tensors;

namespace MLConv.Export.Onnx;

/// <summary>
/// A constant met while importing: its values as doubles (exact for float32 and for integers up to 2⁵³, so every
/// shape), its shape, whether it is an integer tensor, and which elements stand for the batch size (set where an
/// activation's Shape was read: the batch is not known at import, so those elements hold 0, which Reshape reads as
/// "keep this dimension"; computing with them is refused).
/// </summary>
internal sealed record OnnxConstant(double[] Values, int[] Shape, bool IsInt, bool[]? Batch = null)
{
    public int Length => Values.Length;

    public bool IsBatch(int i) => Batch is { } b && b[i];

    public static OnnxConstant FromTensor(Tensor t) => new([.. t.Span.ToArray().Select(v => (double)v)], t.ShapeArray, false);

    public static OnnxConstant FromInts(long[] values, int[] shape, bool[]? batch = null) =>
        new([.. values.Select(v => (double)v)], shape, true, batch is not null && batch.Any(b => b) ? batch : null);

    public Tensor ToTensor() => new(Shape, [.. Values.Select(v => (float)v)]);

    public long[] ToInt64s() => [.. Values.Select(v => (long)v)];

    /// <summary>A result of the same element type (floats rounded to float32, integers truncated) with the given batch marks.</summary>
    public OnnxConstant With(double[] values, int[] shape, bool[]? batch) =>
        new(IsInt ? [.. values.Select(Math.Truncate)] : [.. values.Select(v => (double)(float)v)], shape, IsInt,
            batch is not null && batch.Any(b => b) ? batch : null);
}

/// <summary>
/// Evaluates ONNX operators over constants at import, so the shape arithmetic exporters emit (PyTorch's
/// Shape → Gather → Unsqueeze → Concat → Reshape, tf2onnx's Shape → Cast → Slice → Concat) and weight
/// preprocessing (Unsqueeze of a batch-norm scale, Sqrt, Div) disappear before layers are read. Each
/// operator reads its legacy attributes and its current inputs (Unsqueeze/Squeeze axes before and from
/// opset 13, Slice starts/ends/axes before and from opset 10, broadcast/axis of opset-1 arithmetic).
/// </summary>
internal static class OnnxConstantFolding
{
    /// <summary>The operators <see cref="Evaluate"/> computes.</summary>
    public static readonly IReadOnlySet<string> Operators = new HashSet<string>(StringComparer.Ordinal)
    {
        "Identity", "Shape", "Size", "Gather", "Unsqueeze", "Squeeze", "Concat", "Cast", "Slice", "Range", "Add", "Sub", "Mul", "Div",
        "Pow", "Neg", "Sqrt", "Reciprocal", "Exp", "Log", "Abs", "Floor", "Ceil", "Transpose", "Reshape", "Flatten", "Expand",
    };

    /// <summary>The output of the node read by <paramref name="a"/> whose inputs are the constants <paramref name="ins"/> (null for an omitted optional input).</summary>
    public static OnnxConstant Evaluate(OnnxNodeReader a, IReadOnlyList<OnnxConstant?> ins)
    {
        string op = a.Node.OpType;
        OnnxConstant In(int i) => i < ins.Count && ins[i] is { } c ? c
            : throw new NotSupportedException($"{a.What}: input {i} is required.");
        var result = op switch
        {
            "Identity" => In(0),
            "Shape" => Shape(a, In(0).Shape, null),
            "Size" => OnnxConstant.FromInts([In(0).Length], []),
            "Gather" => Gather(a, In(0), In(1)),
            "Unsqueeze" => Unsqueeze(a, In(0), Axes(a, ins, 1)),
            "Squeeze" => Squeeze(a, In(0), Axes(a, ins, 1)),
            "Concat" => Concat(a, [.. ins.Select((c, i) => c ?? In(i))]),
            "Cast" => Cast(a, In(0)),
            "Slice" => Slice(a, ins),
            "Range" => Range(a, In(0), In(1), In(2)),
            "Add" or "Sub" or "Mul" or "Div" or "Pow" => Arithmetic(a, In(0), In(1)),
            "Neg" or "Sqrt" or "Reciprocal" or "Exp" or "Log" or "Abs" or "Floor" or "Ceil" => Unary(a, In(0)),
            "Transpose" => Transpose(a, In(0)),
            "Reshape" => Reshape(a, In(0), ins),
            "Flatten" => Flatten(a, In(0)),
            "Expand" => Expand(a, In(0), In(1)),
            _ => throw new NotSupportedException($"{a.What}: operator {op} is not evaluated over constants (evaluated: {string.Join(", ", Operators.Order(StringComparer.Ordinal))})."),
        };
        a.ThrowOnUnread();
        return result;
    }

    /// <summary>Shape (opset 15's start and end attributes read) of a tensor; <paramref name="batch"/> marks dimension 0 as the batch.</summary>
    public static OnnxConstant Shape(OnnxNodeReader a, int[] shape, bool? batch)
    {
        int r = shape.Length;
        int start = (int)Clamp(a.Int("start", 0), r), end = (int)Clamp(a.Int("end", r), r);
        long[] dims = [.. shape.Select((d, i) => batch == true && i == 0 ? 0L : d)];
        bool[] marks = [.. shape.Select((_, i) => batch == true && i == 0)];
        int n = Math.Max(0, end - start);
        return OnnxConstant.FromInts(dims[start..(start + n)], [n], marks[start..(start + n)]);
    }

    private static long Clamp(long i, int rank) => Math.Clamp(i < 0 ? i + rank : i, 0, rank);

    private static int Axis(OnnxNodeReader a, long axis, int rank)
    {
        long r = axis < 0 ? axis + rank : axis;
        if (r < 0 || r >= rank) throw new NotSupportedException($"{a.What}: axis {axis} is outside a tensor of rank {rank}.");
        return (int)r;
    }

    private static long Count(int[] shape) => shape.Aggregate(1L, (p, d) => p * d);

    private static int[] Strides(int[] shape)
    {
        var s = new int[shape.Length];
        int k = 1;
        for (int d = shape.Length - 1; d >= 0; d--) { s[d] = k; k *= shape[d]; }
        return s;
    }

    /// <summary>Axes from the attribute (before opset 13) or from input <paramref name="input"/> (from opset 13); null when neither is given.</summary>
    private static long[]? Axes(OnnxNodeReader a, IReadOnlyList<OnnxConstant?> ins, int input) =>
        a.Ints("axes") ?? (input < ins.Count && ins[input] is { } c ? NoBatch(a, c).ToInt64s() : null);

    private static OnnxConstant NoBatch(OnnxNodeReader a, OnnxConstant c) => c.Batch is null ? c
        : throw new NotSupportedException($"{a.What}: computing with the batch size (unknown at import) is not supported.");

    /// <summary>y = data indexed along <c>axis</c> by <c>indices</c>: shape data[:axis] + indices + data[axis+1:].</summary>
    private static OnnxConstant Gather(OnnxNodeReader a, OnnxConstant data, OnnxConstant indices)
    {
        int r = data.Shape.Length, axis = Axis(a, a.Int("axis", 0), r), n = data.Shape[axis];
        int outer = (int)Count(data.Shape[..axis]), inner = (int)Count(data.Shape[(axis + 1)..]);
        var idx = NoBatch(a, indices).ToInt64s();
        var values = new double[outer * idx.Length * inner];
        var batch = new bool[values.Length];
        for (int o = 0; o < outer; o++)
            for (int k = 0; k < idx.Length; k++)
            {
                long i = idx[k] < 0 ? idx[k] + n : idx[k];
                if (i < 0 || i >= n) throw new NotSupportedException($"{a.What}: index {idx[k]} is outside an axis of {n}.");
                for (int j = 0; j < inner; j++)
                {
                    int from = (o * n + (int)i) * inner + j, to = (o * idx.Length + k) * inner + j;
                    values[to] = data.Values[from];
                    batch[to] = data.IsBatch(from);
                }
            }
        return data.With(values, [.. data.Shape[..axis], .. indices.Shape, .. data.Shape[(axis + 1)..]], batch);
    }

    private static OnnxConstant Unsqueeze(OnnxNodeReader a, OnnxConstant x, long[]? axes)
    {
        if (axes is null) throw new NotSupportedException($"{a.What}: axes are required.");
        int rank = x.Shape.Length + axes.Length;
        var at = axes.Select(v => Axis(a, v, rank)).ToHashSet();
        if (at.Count != axes.Length) throw new NotSupportedException($"{a.What}: axes [{string.Join(", ", axes)}] repeat an axis.");
        var shape = new int[rank];
        for (int d = 0, k = 0; d < rank; d++) shape[d] = at.Contains(d) ? 1 : x.Shape[k++];
        return x with { Shape = shape };
    }

    private static OnnxConstant Squeeze(OnnxNodeReader a, OnnxConstant x, long[]? axes)
    {
        var at = axes is null
            ? Enumerable.Range(0, x.Shape.Length).Where(d => x.Shape[d] == 1).ToHashSet()
            : axes.Select(v => Axis(a, v, x.Shape.Length)).ToHashSet();
        foreach (int d in at)
            if (x.Shape[d] != 1) throw new NotSupportedException($"{a.What}: axis {d} of [{string.Join(", ", x.Shape)}] is not 1.");
        return x with { Shape = [.. x.Shape.Where((_, d) => !at.Contains(d))] };
    }

    private static OnnxConstant Concat(OnnxNodeReader a, OnnxConstant[] xs)
    {
        int r = xs[0].Shape.Length, axis = Axis(a, a.Int("axis", r == 1 ? 0 : 1), r);
        foreach (var x in xs)
            if (x.Shape.Length != r || x.IsInt != xs[0].IsInt || Enumerable.Range(0, r).Any(d => d != axis && x.Shape[d] != xs[0].Shape[d]))
                throw new NotSupportedException($"{a.What}: the inputs do not agree on every axis but {axis}.");
        int outer = (int)Count(xs[0].Shape[..axis]);
        var values = new List<double>();
        var batch = new List<bool>();
        for (int o = 0; o < outer; o++)
            foreach (var x in xs)
            {
                int row = x.Length / Math.Max(1, outer);
                for (int j = 0; j < row; j++) { values.Add(x.Values[o * row + j]); batch.Add(x.IsBatch(o * row + j)); }
            }
        var shape = (int[])xs[0].Shape.Clone();
        shape[axis] = xs.Sum(x => x.Shape[axis]);
        return xs[0].With([.. values], shape, [.. batch]);
    }

    private static OnnxConstant Cast(OnnxNodeReader a, OnnxConstant x)
    {
        var to = (DataType)a.Int("to", 0);
        bool toInt = to switch
        {
            DataType.Float or DataType.Double or DataType.Float16 => false,
            DataType.Int64 or DataType.Int32 or DataType.Int16
                or DataType.Int8 or DataType.Uint8 => true,
            _ => throw new NotSupportedException($"{a.What}: a cast to {to} is not evaluated."),
        };
        return (x with { IsInt = toInt }).With(x.Values, x.Shape, x.Batch);
    }

    /// <summary>ONNX Slice: per axis, indices start, start + step, … before end, each clamped to the axis (steps may be negative).</summary>
    private static OnnxConstant Slice(OnnxNodeReader a, IReadOnlyList<OnnxConstant?> ins)
    {
        var x = ins[0]!;
        int r = x.Shape.Length;
        long[] Input(int i) => NoBatch(a, ins[i]!).ToInt64s();
        long[] starts, ends;
        long[]? axes, steps = null;
        if (a.Opset < 10)
        {
            starts = a.Ints("starts") ?? throw new NotSupportedException($"{a.What}: starts are required.");
            ends = a.Ints("ends") ?? throw new NotSupportedException($"{a.What}: ends are required.");
            axes = a.Ints("axes");
        }
        else
        {
            starts = Input(1);
            ends = Input(2);
            axes = ins.Count > 3 && ins[3] is not null ? Input(3) : null;
            steps = ins.Count > 4 && ins[4] is not null ? Input(4) : null;
        }
        axes ??= [.. Enumerable.Range(0, starts.Length).Select(i => (long)i)];
        steps ??= [.. starts.Select(_ => 1L)];
        if (ends.Length != starts.Length || axes.Length != starts.Length || steps.Length != starts.Length)
            throw new NotSupportedException($"{a.What}: starts, ends, axes and steps differ in length.");
        var begin = new long[r];
        var step = Enumerable.Repeat(1L, r).ToArray();
        var shape = (int[])x.Shape.Clone();
        for (int k = 0; k < starts.Length; k++)
        {
            int d = Axis(a, axes[k], r), n = x.Shape[d];
            long s = steps[k];
            if (s == 0) throw new NotSupportedException($"{a.What}: a step of 0.");
            long b = starts[k] < 0 ? starts[k] + n : starts[k], e = ends[k] < 0 ? ends[k] + n : ends[k];
            if (s > 0) { b = Math.Clamp(b, 0, n); e = Math.Clamp(e, 0, n); }
            else { b = Math.Clamp(b, -1, n - 1); e = Math.Clamp(e, -1, n - 1); }
            begin[d] = b;
            step[d] = s;
            shape[d] = (int)Math.Max(0, s > 0 ? (e - b + s - 1) / s : (b - e - s - 1) / -s);
        }
        var from = Strides(x.Shape);
        var to = Strides(shape);
        var values = new double[Count(shape)];
        var batch = new bool[values.Length];
        for (int o = 0; o < values.Length; o++)
        {
            long i = 0;
            for (int d = 0; d < r; d++) i += (begin[d] + o / to[d] % shape[d] * step[d]) * from[d];
            values[o] = x.Values[i];
            batch[o] = x.IsBatch((int)i);
        }
        return x.With(values, shape, batch);
    }

    private static OnnxConstant Range(OnnxNodeReader a, OnnxConstant start, OnnxConstant limit, OnnxConstant delta)
    {
        double s = NoBatch(a, start).Values.Single(), l = NoBatch(a, limit).Values.Single(), d = NoBatch(a, delta).Values.Single();
        if (d == 0) throw new NotSupportedException($"{a.What}: a delta of 0.");
        long n = Math.Max((long)Math.Ceiling((l - s) / d), 0);
        if (n > 1 << 24) throw new NotSupportedException($"{a.What}: {n} elements.");
        return start.With([.. Enumerable.Range(0, (int)n).Select(i => s + i * d)], [(int)n], null);
    }

    /// <summary>Two-way (NumPy) broadcasting; opset-1 "broadcast" with "axis" aligns B's axes at A's axis <c>axis</c>.</summary>
    private static OnnxConstant Arithmetic(OnnxNodeReader a, OnnxConstant x, OnnxConstant y)
    {
        a.Accept("consumed_inputs");
        if (a.Int("broadcast", 0) != 0 && a.Has("axis"))
        {
            int axis = Axis(a, a.Int("axis", 0), x.Shape.Length);
            y = y with { Shape = [.. y.Shape, .. Enumerable.Repeat(1, Math.Max(0, x.Shape.Length - axis - y.Shape.Length))] };
        }
        else a.Accept("axis");
        bool ints = x.IsInt && y.IsInt;
        Func<double, double, double> f = a.Node.OpType switch
        {
            "Add" => (p, q) => p + q,
            "Sub" => (p, q) => p - q,
            "Mul" => (p, q) => p * q,
            "Div" when ints => (p, q) => q == 0 ? throw new NotSupportedException($"{a.What}: integer division by zero.") : Math.Truncate(p / q),
            "Div" => (p, q) => p / q,
            _ => Math.Pow,
        };
        return Combine(a, ints ? x : x with { IsInt = false }, y, f);
    }

    /// <summary>z = f(x, y) element-wise over the two-way broadcast shape; z takes x's element type.</summary>
    private static OnnxConstant Combine(OnnxNodeReader a, OnnxConstant x, OnnxConstant y, Func<double, double, double> f)
    {
        if (x.Batch is not null || y.Batch is not null)
            throw new NotSupportedException($"{a.What}: computing with the batch size (unknown at import) is not supported.");
        int[] shape;
        try { shape = Elementwise.BroadcastShape(x.Shape, y.Shape); }
        catch (ArgumentException e) { throw new NotSupportedException($"{a.What}: {e.Message}", e); }
        var sx = Elementwise.BroadcastStrides(x.Shape, shape);
        var sy = Elementwise.BroadcastStrides(y.Shape, shape);
        var outStrides = Strides(shape);
        var values = new double[Count(shape)];
        for (int o = 0; o < values.Length; o++)
        {
            int i = 0, j = 0;
            for (int d = 0; d < shape.Length; d++)
            {
                int c = o / outStrides[d] % shape[d];
                i += c * sx[d];
                j += c * sy[d];
            }
            values[o] = f(x.Values[i], y.Values[j]);
        }
        return x.With(values, shape, null);
    }

    private static OnnxConstant Unary(OnnxNodeReader a, OnnxConstant x)
    {
        a.Accept("consumed_inputs");
        Func<double, double> f = a.Node.OpType switch
        {
            "Neg" => v => -v,
            "Sqrt" => Math.Sqrt,
            "Reciprocal" => v => 1 / v,
            "Exp" => Math.Exp,
            "Log" => Math.Log,
            "Abs" => Math.Abs,
            "Floor" => Math.Floor,
            _ => Math.Ceiling,
        };
        return NoBatch(a, x).With([.. x.Values.Select(f)], x.Shape, null);
    }

    private static OnnxConstant Transpose(OnnxNodeReader a, OnnxConstant x)
    {
        int r = x.Shape.Length;
        var perm = a.Ints("perm") ?? [.. Enumerable.Range(0, r).Reverse().Select(d => (long)d)];
        if (perm.Length != r || perm.Distinct().Count() != r || perm.Any(p => p < 0 || p >= r))
            throw new NotSupportedException($"{a.What}: perm [{string.Join(", ", perm)}] is not a permutation of {r} axes.");
        int[] shape = [.. perm.Select(p => x.Shape[p])];
        var from = Strides(x.Shape);
        var to = Strides(shape);
        var values = new double[x.Length];
        var batch = new bool[x.Length];
        for (int o = 0; o < values.Length; o++)
        {
            int i = 0;
            for (int d = 0; d < r; d++) i += o / to[d] % shape[d] * from[perm[d]];
            values[o] = x.Values[i];
            batch[o] = x.IsBatch(i);
        }
        return x.With(values, shape, batch);
    }

    private static OnnxConstant Reshape(OnnxNodeReader a, OnnxConstant x, IReadOnlyList<OnnxConstant?> ins)
    {
        if (a.Int("allowzero", 0) != 0) throw new NotSupportedException($"{a.What}: allowzero 1 is not supported.");
        a.Accept("consumed_inputs");
        var target = a.Ints("shape") ?? (ins.Count > 1 && ins[1] is { } t ? NoBatch(a, t).ToInt64s() : throw new NotSupportedException($"{a.What}: the shape is required."));
        try { return x with { Shape = Training.Layers.Reshape.Resolve(x.Shape, target) }; }
        catch (ArgumentException e) { throw new NotSupportedException($"{a.What}: {e.Message}", e); }
    }

    private static OnnxConstant Flatten(OnnxNodeReader a, OnnxConstant x)
    {
        int r = x.Shape.Length;
        long axis = a.Int("axis", 1), at = axis < 0 ? axis + r : axis;
        if (at < 0 || at > r) throw new NotSupportedException($"{a.What}: axis {axis} is outside a tensor of rank {r}.");
        return x with { Shape = [(int)Count(x.Shape[..(int)at]), (int)Count(x.Shape[(int)at..])] };
    }

    /// <summary>x broadcast to the shape (two-way: a 1 in the shape keeps x's dimension).</summary>
    private static OnnxConstant Expand(OnnxNodeReader a, OnnxConstant x, OnnxConstant shape)
    {
        int[] dims = [.. NoBatch(a, shape).ToInt64s().Select(d => (int)d)];
        return Combine(a, x, new OnnxConstant(new double[Count(dims)], dims, true), (p, _) => p);
    }
}
