using System.Runtime.Intrinsics;
using System.Text.Json.Nodes;
using MLConv.Training.Tensors;

namespace MLConv.Training.Layers;

/// <summary>y = max(x, 0); dx = dy where y > 0, else 0 (the subgradient at 0 is 0, as PyTorch).</summary>
public sealed class ReLU : Layer
{
    private Tensor? _y, _dx;
    private Saved? _saved;

    /// <summary>What backward reads, kept by the last forward: y (dx passes where y > 0).</summary>
    private readonly record struct Saved(Tensor Y);

    /// <inheritdoc/>
    public override int[] OutputShape(int[] inputShape) => (int[])inputShape.Clone();

    /// <summary>Set by an <see cref="InferencePlan"/>: the convolution, <see cref="Sum"/> or <see cref="Residual"/> that applies this ReLU to its output.</summary>
    internal IAbsorbsNext? FusedInto { get; set; }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor x, bool training)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (!training && FusedInto is { } into && into.Absorbs(this))
        {
            // Applied by the layer before it (inference plan): x already is max(x, 0).
            _saved = null;
            return x;
        }
        var y = Tensor.Reuse(ref _y, x.ShapeArray);
        System.Numerics.Tensors.TensorPrimitives.Max(x.Span, 0f, y.Span);
        _saved = new Saved(y);
        return y;
    }

    /// <inheritdoc/>
    public override Tensor Backward(Tensor dy)
    {
        var output = (_saved ?? throw BackwardBeforeForward()).Y;
        CheckSameShape(dy, output, "ReLU");
        var dx = Tensor.Reuse(ref _dx, dy.ShapeArray);
        var ys = output.Span;
        var ds = dy.Span;
        var xs = dx.Span;
        int i = 0;
        for (; i + Vector256<float>.Count <= xs.Length; i += Vector256<float>.Count)
        {
            var y = Vector256.Create(ys.Slice(i, Vector256<float>.Count));
            var d = Vector256.Create(ds.Slice(i, Vector256<float>.Count));
            Vector256.ConditionalSelect(Vector256.GreaterThan(y, Vector256<float>.Zero), d, Vector256<float>.Zero).CopyTo(xs.Slice(i));
        }
        for (; i < xs.Length; i++) xs[i] = ys[i] > 0f ? ds[i] : 0f;
        return dx;
    }

    /// <inheritdoc/>
    public override JsonObject ToSpec() => new() { ["type"] = TypeName };
    /// <summary>Rebuilds a <see cref="ReLU"/> from <paramref name="spec"/>, the JSON its <see cref="Layer.ToSpec"/> writes (<see cref="LayerFactory"/> calls this).</summary>
    public static ReLU FromSpec(JsonObject spec) => new();
    /// <inheritdoc/>
    public override string ToString() => "ReLU()";
}
