using System.Text.Json.Nodes;
using MLConv.Training.Kernels;
using MLConv.Training.Tensors;

namespace MLConv.Training.Layers;

/// <summary>
/// y = F(x) + S(x), with S the identity (no shortcut layer) or a projection such as 1x1 Conv2d (+ BatchNorm2d).
/// Backward: dx = dF/dx·dy + dS/dx·dy (the two paths' input gradients summed).
/// </summary>
public sealed class Residual : Layer, IReLUJoin
{
    private Tensor? _y, _dx;

    /// <summary>Set by an <see cref="InferencePlan"/>: the ReLU right after this block, applied by the block in inference-mode forwards.</summary>
    internal ReLU? FusedReLU { get; set; }

    ReLU? IReLUJoin.FusedReLU { get => FusedReLU; set => FusedReLU = value; }

    /// <summary>y = <paramref name="body"/>(x) + <paramref name="shortcut"/>(x), or + x without a shortcut; both paths must give one shape.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="body"/> is null.</exception>
    public Residual(Layer body, Layer? shortcut = null)
    {
        Body = body ?? throw new ArgumentNullException(nameof(body));
        Shortcut = shortcut;
        OnComputeInputGradientChanged();
    }

    /// <summary>F, the residual path.</summary>
    public Layer Body { get; }
    /// <summary>S, the shortcut projection; null for the identity.</summary>
    public Layer? Shortcut { get; }

    /// <inheritdoc/>
    public override IReadOnlyList<(string Name, Layer Layer)> Children =>
        Shortcut is null ? [("body", Body)] : [("body", Body), ("shortcut", Shortcut)];

    /// <inheritdoc/>
    public override int[] OutputShape(int[] inputShape)
    {
        var a = Body.OutputShape(inputShape);
        var b = Shortcut?.OutputShape(inputShape) ?? inputShape;
        if (!a.AsSpan().SequenceEqual(b))
            throw new ArgumentException($"Residual branches disagree: body gives [{string.Join(", ", a)}], shortcut gives [{string.Join(", ", b)}] for input [{string.Join(", ", inputShape)}].", "x");
        return a;
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor x, bool training)
    {
        ArgumentNullException.ThrowIfNull(x);
        var f = Body.Forward(x, training);
        var s = Shortcut?.Forward(x, training) ?? x;
        if (!f.ShapeEquals(s.Shape))
            throw new ArgumentException($"Residual branches disagree: body gives [{f.ShapeString}], shortcut gives [{s.ShapeString}].", nameof(x));
        var y = Tensor.Reuse(ref _y, f.ShapeArray);
        // y = F(x) + S(x); with a fused ReLU (inference plan), y = max(F(x) + S(x), 0) in the same pass
        AddReLU.Run(f.Data, s.Data, y.Data, y.Length, relu: !training && FusedReLU is not null);
        return y;
    }

    /// <inheritdoc/>
    public override Tensor Backward(Tensor dy)
    {
        CheckSameShape(dy, _y, "Residual");
        var dBody = Body.Backward(dy);
        var dx = Tensor.Reuse(ref _dx, dBody.ShapeArray);
        dBody.Span.CopyTo(dx.Span);
        if (Shortcut is null) System.Numerics.Tensors.TensorPrimitives.Add(dx.Span, dy.Span, dx.Span);
        else
        {
            var dS = Shortcut.Backward(dy);
            System.Numerics.Tensors.TensorPrimitives.Add(dx.Span, dS.Span, dx.Span);
        }
        return dx;
    }

    /// <summary>dx sums both paths' input gradients, so both are computed even when this block's own dx is not needed.</summary>
    protected override void OnComputeInputGradientChanged()
    {
        Body.ComputeInputGradient = true;
        if (Shortcut is not null) Shortcut.ComputeInputGradient = true;
    }

    /// <inheritdoc/>
    public override long MultiplyAccumulates(int[] inputShape) =>
        Body.MultiplyAccumulates(inputShape) + (Shortcut?.MultiplyAccumulates(inputShape) ?? 0) + Product(OutputShape(inputShape));

    private static long Product(int[] s) { long p = 1; foreach (int d in s) p *= d; return p; }

    /// <inheritdoc/>
    public override JsonObject ToSpec()
    {
        var o = new JsonObject { ["type"] = TypeName, ["body"] = Body.ToSpec() };
        if (Shortcut is not null) o["shortcut"] = Shortcut.ToSpec();
        return o;
    }

    /// <summary>Rebuilds a <see cref="Residual"/> from <paramref name="spec"/>, the JSON its <see cref="Layer.ToSpec"/> writes (<see cref="LayerFactory"/> calls this).</summary>
    public static Residual FromSpec(JsonObject spec) =>
        new(LayerFactory.FromSpec(Spec.Object(spec, "body")), spec["shortcut"] is JsonObject s ? LayerFactory.FromSpec(s) : null);

    /// <inheritdoc/>
    public override string ToString() => Shortcut is null ? "Residual(identity)" : "Residual(projection)";
}
