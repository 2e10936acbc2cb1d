using System.Text.Json.Nodes;
using MLConv.Training.Tensors;

namespace MLConv.Training.Layers;

/// <summary>The operation of an <see cref="Elementwise"/> layer.</summary>
public enum ElementwiseOp
{
    /// <summary>a + b.</summary>
    Add,
    /// <summary>a − b.</summary>
    Sub,
    /// <summary>a · b.</summary>
    Mul,
    /// <summary>a ÷ b.</summary>
    Div,
}

/// <summary>
/// z = a ∘ b for two activations, ∘ one of + − · ÷, with NumPy (ONNX) broadcasting: the shapes are aligned at
/// their last axes and an axis of size 1 repeats to the other's size (squeeze-and-excitation's
/// [N, C, H, W] · [N, C, 1, 1], GLU's a · σ(b)). With i(o), j(o) the elements of a and b read at output o:
///   forward   z_o = a_i(o) ∘ b_j(o)
///   backward  da_i = Σ_{o: i(o) = i} dz_o · ∂∘/∂a,  db_j = Σ_{o: j(o) = j} dz_o · ∂∘/∂b
///             (the sum runs over the broadcast axes), with ∂/∂a, ∂/∂b = (1, 1) for +, (1, −1) for −,
///             (b, a) for ·, (1/b, −a/b²) for ÷.
/// Backward reads a and b as forward saw them (the graph keeps its values until the next forward).
/// </summary>
public sealed class Elementwise : MultiInputLayer
{
    private Tensor? _a, _b, _y, _da, _db;

    /// <summary>A layer computing <paramref name="op"/> of its two inputs.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="op"/> is not a defined <see cref="ElementwiseOp"/>.</exception>
    public Elementwise(ElementwiseOp op)
    {
        if (!Enum.IsDefined(op)) throw new ArgumentOutOfRangeException(nameof(op), op, "Unknown element-wise operation.");
        Op = op;
    }

    /// <summary>The operation ∘ in z = a ∘ b.</summary>
    public ElementwiseOp Op { get; }

    /// <summary>The two-way broadcast of two shapes (aligned at the last axis; 1 repeats); throws ArgumentException when they clash.</summary>
    public static int[] BroadcastShape(ReadOnlySpan<int> a, ReadOnlySpan<int> b)
    {
        int r = Math.Max(a.Length, b.Length);
        var y = new int[r];
        for (int d = 0; d < r; d++)
        {
            int p = d - (r - a.Length) >= 0 ? a[d - (r - a.Length)] : 1, q = d - (r - b.Length) >= 0 ? b[d - (r - b.Length)] : 1;
            if (p != q && p != 1 && q != 1)
                throw new ArgumentException($"Shapes [{string.Join(", ", a.ToArray())}] and [{string.Join(", ", b.ToArray())}] do not broadcast (axis {d}: {p} vs {q}).", "inputShapes");
            y[d] = p == 1 ? q : p;
        }
        return y;
    }

    /// <summary>Per axis of <paramref name="output"/>, the step in a row-major tensor of <paramref name="shape"/> (0 where it broadcasts).</summary>
    public static int[] BroadcastStrides(ReadOnlySpan<int> shape, ReadOnlySpan<int> output)
    {
        var s = new int[output.Length];
        int k = 1, offset = output.Length - shape.Length;
        for (int d = shape.Length - 1; d >= 0; d--)
        {
            s[d + offset] = shape[d] == 1 ? 0 : k;
            k *= shape[d];
        }
        return s;
    }

    /// <inheritdoc/>
    public override int[] OutputShape(IReadOnlyList<int[]> inputShapes)
    {
        ArgumentNullException.ThrowIfNull(inputShapes);
        if (inputShapes.Count != 2) throw new ArgumentException($"{this} takes two inputs; got {inputShapes.Count}.", nameof(inputShapes));
        return BroadcastShape(inputShapes[0], inputShapes[1]);
    }

    /// <inheritdoc/>
    public override Tensor Forward(IReadOnlyList<Tensor> inputs, bool training)
    {
        CheckInputs(inputs);
        if (inputs.Count != 2) throw new ArgumentException($"{this} takes two inputs; got {inputs.Count}.", nameof(inputs));
        var (x0, x1) = (_a, _b) = (inputs[0], inputs[1]);
        var y = Tensor.Reuse(ref _y, BroadcastShape(x0.Shape, x1.Shape));
        Rows(y.ShapeArray, (a, b, o, n, sa, sb) =>
        {
            var av = x0.Span;
            var bv = x1.Span;
            var yv = y.Span;
            for (int k = 0; k < n; k++)
            {
                float p = av[a + k * sa], q = bv[b + k * sb];
                yv[o + k] = Op switch { ElementwiseOp.Add => p + q, ElementwiseOp.Sub => p - q, ElementwiseOp.Mul => p * q, _ => p / q };
            }
        });
        return y;
    }

    /// <inheritdoc/>
    public override IReadOnlyList<Tensor> BackwardMany(Tensor dy)
    {
        CheckSameShape(dy, _y, TypeName);
        var (x0, x1) = (_a!, _b!);
        var da = Tensor.Reuse(ref _da, x0.ShapeArray);
        var db = Tensor.Reuse(ref _db, x1.ShapeArray);
        da.Clear();
        db.Clear();
        Rows(dy.ShapeArray, (a, b, o, n, sa, sb) =>
        {
            var av = x0.Span;
            var bv = x1.Span;
            var g = dy.Span;
            var ga = da.Span;
            var gb = db.Span;
            for (int k = 0; k < n; k++)
            {
                int i = a + k * sa, j = b + k * sb;
                float d = g[o + k];
                switch (Op)
                {
                    case ElementwiseOp.Add: ga[i] += d; gb[j] += d; break;
                    case ElementwiseOp.Sub: ga[i] += d; gb[j] -= d; break;
                    case ElementwiseOp.Mul: ga[i] += d * bv[j]; gb[j] += d * av[i]; break;
                    default:
                        float q = bv[j];
                        ga[i] += d / q;
                        gb[j] -= d * av[i] / (q * q);
                        break;
                }
            }
        });
        return [da, db];
    }

    private delegate void RowAction(int a, int b, int o, int n, int strideA, int strideB);

    /// <summary>Calls <paramref name="row"/> once per row of the output's last axis with the first elements of a, b and the output in it and the steps along it.</summary>
    private void Rows(int[] shape, RowAction row)
    {
        int r = shape.Length;
        var sa = BroadcastStrides(_a!.Shape, shape);
        var sb = BroadcastStrides(_b!.Shape, shape);
        int n = r == 0 ? 1 : shape[r - 1], rows = n == 0 ? 0 : (int)(shape.Aggregate(1L, (p, d) => p * d) / n);
        for (int q = 0; q < rows; q++)
        {
            int a = 0, b = 0, rest = q;
            for (int d = r - 2; d >= 0; d--)
            {
                int c = rest % shape[d];
                rest /= shape[d];
                a += c * sa[d];
                b += c * sb[d];
            }
            row(a, b, q * n, n, r == 0 ? 0 : sa[r - 1], r == 0 ? 0 : sb[r - 1]);
        }
    }

    /// <inheritdoc/>
    public override long MultiplyAccumulates(IReadOnlyList<int[]> inputShapes) => OutputShape(inputShapes).Aggregate(1L, (p, d) => p * d);

    /// <inheritdoc/>
    public override JsonObject ToSpec() => new() { ["type"] = TypeName, ["op"] = Op.ToString() };

    /// <summary>Rebuilds a <see cref="Elementwise"/> from <paramref name="spec"/>, the JSON its <see cref="Layer.ToSpec"/> writes (<see cref="LayerFactory"/> calls this).</summary>
    public static Elementwise FromSpec(JsonObject spec) =>
        new(Enum.TryParse<ElementwiseOp>(Spec.String(spec, "op"), ignoreCase: false, out var op) && Enum.IsDefined(op) ? op
            : throw new ArgumentException($"Elementwise: unknown op '{Spec.String(spec, "op")}' (Add, Sub, Mul, Div).", nameof(spec)));

    /// <inheritdoc/>
    public override string ToString() => $"Elementwise({Op})";
}
