using System.Text.Json.Nodes;
using MLConv.Training.Tensors;

namespace MLConv.Training.Layers;

/// <summary>
/// y = x ∘ T (or T ∘ x with <see cref="ValueFirst"/>), ∘ one of + − · ÷, for a learnable tensor T broadcast against the
/// input by NumPy's rules (aligned at the last axis, size 1 repeats): a model's parameter added to or multiplied with an
/// activation (ONNX Add/Sub/Mul/Div of an activation and a constant of any broadcastable shape; a scalar or per-channel
/// constant reads as <see cref="ChannelAffine"/>). T's rank is at most the input's, so the batch stays axis 0; a T as
/// long as the input, with a first axis above 1, fixes the batch size. With the two-activation <see cref="Elementwise"/>
/// doing the arithmetic:
///   forward   y = x ∘ T
///   backward  dx = Σ_{broadcast axes of x} dy · ∂∘/∂x,  dT += Σ_{broadcast axes of T} dy · ∂∘/∂T
/// </summary>
public sealed class TensorOperand : Layer
{
    private readonly Parameter _value;
    private readonly Elementwise _op;
    private readonly Tensor[] _pair = new Tensor[2];

    /// <summary>y = x ∘ T (or T ∘ x), T a learnable parameter ("value"; no weight decay).</summary>
    /// <param name="op">The operation ∘.</param>
    /// <param name="value">T (copied).</param>
    /// <param name="valueFirst">True for y = T ∘ x.</param>
    /// <exception cref="ArgumentNullException"><paramref name="value"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="op"/> is not a defined operation.</exception>
    public TensorOperand(ElementwiseOp op, Tensor value, bool valueFirst = false)
    {
        ArgumentNullException.ThrowIfNull(value);
        _op = new Elementwise(op);
        Op = op;
        ValueFirst = valueFirst;
        _value = new Parameter("value", value.Clone()) { Decay = false };
    }

    /// <summary>The operation ∘.</summary>
    public ElementwiseOp Op { get; }

    /// <summary>True: y = T ∘ x (T − x, T ÷ x); false: y = x ∘ T.</summary>
    public bool ValueFirst { get; }

    /// <summary>T.</summary>
    public Parameter Value => _value;

    /// <inheritdoc/>
    public override IReadOnlyList<Parameter> Parameters => [_value];

    /// <summary>T becomes the operation's identity (0 for + and −, 1 for · and ÷): the layer starts as a pass-through (T − x and T ÷ x excepted).</summary>
    public override void Reset(Random rng) => _value.Value.Fill(Op is ElementwiseOp.Add or ElementwiseOp.Sub ? 0f : 1f);

    /// <inheritdoc/>
    public override int[] OutputShape(int[] inputShape)
    {
        ArgumentNullException.ThrowIfNull(inputShape);
        var t = _value.Value.Shape;
        if (t.Length > inputShape.Length)
            throw new ArgumentException($"{this}: T of shape [{_value.Value.ShapeString}] has more axes than the input [{string.Join(", ", inputShape)}].", nameof(inputShape));
        try { return Elementwise.BroadcastShape(inputShape, t); }
        catch (ArgumentException e) { throw new ArgumentException($"{this}: {e.Message}", nameof(inputShape), e); }
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor x, bool training)
    {
        ArgumentNullException.ThrowIfNull(x);
        OutputShape(x.ShapeArray);
        (_pair[0], _pair[1]) = ValueFirst ? (_value.Value, x) : (x, _value.Value);
        return _op.Forward(_pair, training);
    }

    /// <inheritdoc/>
    public override Tensor Backward(Tensor dy)
    {
        var d = _op.BackwardMany(dy);
        var (dx, dt) = ValueFirst ? (d[1], d[0]) : (d[0], d[1]);
        System.Numerics.Tensors.TensorPrimitives.Add(_value.Grad.Span, dt.Span, _value.Grad.Span);
        return dx;
    }

    /// <inheritdoc/>
    public override long MultiplyAccumulates(int[] inputShape) => OutputShape(inputShape).Aggregate(1L, (p, d) => p * d);

    /// <inheritdoc/>
    public override JsonObject ToSpec() => new()
    {
        ["type"] = TypeName,
        ["op"] = Op.ToString(),
        ["shape"] = new JsonArray([.. _value.Value.ShapeArray.Select(v => (JsonNode)v)]),
        ["valueFirst"] = ValueFirst,
    };

    /// <summary>Rebuilds a <see cref="TensorOperand"/> from <paramref name="spec"/>, the JSON its <see cref="Layer.ToSpec"/> writes (<see cref="LayerFactory"/> calls this).</summary>
    public static TensorOperand FromSpec(JsonObject spec) =>
        new(Enum.TryParse<ElementwiseOp>(Spec.String(spec, "op"), ignoreCase: false, out var op) && Enum.IsDefined(op) ? op
                : throw new ArgumentException($"TensorOperand: unknown op '{Spec.String(spec, "op")}' (Add, Sub, Mul, Div).", nameof(spec)),
            new Tensor(Spec.Ints(spec, "shape")), Spec.Bool(spec, "valueFirst"));

    /// <inheritdoc/>
    public override string ToString() =>
        ValueFirst ? $"TensorOperand(T[{_value.Value.ShapeString}] {Op} x)" : $"TensorOperand(x {Op} T[{_value.Value.ShapeString}])";
}
