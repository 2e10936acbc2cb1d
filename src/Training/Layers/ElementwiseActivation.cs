using System.Text.Json.Nodes;
using MLConv.Training.Tensors;

namespace MLConv.Training.Layers;

/// <summary>
/// A scalar function y = f(x) with its derivative, written as a struct so that the loops of
/// <see cref="ElementwiseActivation{TFunction}"/>, specialised per struct by the JIT, inline it: no virtual call per element.
/// </summary>
public interface IElementwiseFunction
{
    /// <summary>f(x).</summary>
    float Activate(float x);

    /// <summary>f′(x), given x and y = f(x) (sigmoid, tanh and ELU are cheapest from y).</summary>
    float Derivative(float x, float y);

    /// <summary>Writes f over <paramref name="x"/> with a vectorised kernel and returns true, or returns false to have the caller loop over <see cref="Activate"/>.</summary>
    bool TryActivate(ReadOnlySpan<float> x, Span<float> y);
}

/// <summary>
/// An element-wise activation: y = f(x) on any shape, dx = dy ⊙ f′(x). Backward reads the x of the last forward
/// (not copied: a layer's input stays valid until its backward) and the output it keeps.
/// </summary>
public abstract class ElementwiseActivation<TFunction> : Layer where TFunction : struct, IElementwiseFunction
{
    private Tensor? _x, _y, _dx;

    /// <summary>f with this layer's hyper-parameters.</summary>
    protected abstract TFunction Functor { get; }

    /// <inheritdoc/>
    public sealed override int[] OutputShape(int[] inputShape)
    {
        ArgumentNullException.ThrowIfNull(inputShape);
        return (int[])inputShape.Clone();
    }

    /// <inheritdoc/>
    public sealed override Tensor Forward(Tensor x, bool training)
    {
        ArgumentNullException.ThrowIfNull(x);
        var y = Tensor.Reuse(ref _y, x.ShapeArray);
        Activate(Functor, x.Span, y.Span);
        _x = x;
        return y;
    }

    /// <inheritdoc/>
    public sealed override Tensor Backward(Tensor dy)
    {
        CheckSameShape(dy, _y, TypeName);
        var dx = Tensor.Reuse(ref _dx, dy.ShapeArray);
        Differentiate(Functor, _x!.Span, _y!.Span, dy.Span, dx.Span);
        return dx;
    }

    private static void Activate(TFunction f, ReadOnlySpan<float> x, Span<float> y)
    {
        if (f.TryActivate(x, y)) return;
        for (int i = 0; i < x.Length; i++) y[i] = f.Activate(x[i]);
    }

    private static void Differentiate(TFunction f, ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx)
    {
        for (int i = 0; i < dx.Length; i++) dx[i] = dy[i] * f.Derivative(x[i], y[i]);
    }

    /// <inheritdoc/>
    public override JsonObject ToSpec() => new() { ["type"] = TypeName };
    /// <inheritdoc/>
    public override string ToString() => TypeName + "()";
}
