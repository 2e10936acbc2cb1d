using System.Text.Json.Nodes;
using MLConv.Training.Tensors;

namespace MLConv.Training.Layers;

/// <summary>
/// The contract every layer shares. <see cref="Forward"/> computes the output and keeps what its
/// backward needs; <see cref="Backward"/> takes dL/dY of the last forward, accumulates the
/// parameter gradients (+=) and returns dL/dX. Output buffers are owned by the layer and reused
/// across batches of the same shape: a returned tensor is valid until the next call. A layer never writes into the
/// tensors it is given (x in forward, dy in backward): a <see cref="Graph"/> hands one tensor to several layers.
/// </summary>
public abstract class Layer
{
    /// <summary>Type name as written in model files and summaries ("Conv2d").</summary>
    public virtual string TypeName => GetType().Name;

    /// <summary>Computes the output for <paramref name="x"/> and keeps what <see cref="Backward"/> needs.</summary>
    /// <param name="x">The input batch (batch axis first); not written to.</param>
    /// <param name="training">Training mode (batch statistics, dropout) rather than inference.</param>
    /// <returns>The output, a buffer the layer owns: valid until its next call.</returns>
    public abstract Tensor Forward(Tensor x, bool training);

    /// <summary>Back-propagates through the last <see cref="Forward"/>: accumulates (+=) the parameter gradients and returns dL/dX.</summary>
    /// <param name="dy">dL/dY, of the last output's shape; not written to.</param>
    /// <returns>dL/dX of the last input's shape (a buffer the layer owns, valid until its next call).</returns>
    public abstract Tensor Backward(Tensor dy);

    /// <summary>Output shape for an input shape (with batch dimension); throws ArgumentException when the input does not fit.</summary>
    public abstract int[] OutputShape(int[] inputShape);

    /// <summary>
    /// When false, backward may skip dL/dX (the first layer of a network); parameter gradients are still computed.
    /// Set before training (a Network sets it on its root); a composite passes it on, when set and when
    /// built, to the children that read its own input (<see cref="OnComputeInputGradientChanged"/>), never during backward.
    /// </summary>
    public bool ComputeInputGradient
    {
        get => _computeInputGradient;
        set
        {
            _computeInputGradient = value;
            OnComputeInputGradientChanged();
        }
    }

    private bool _computeInputGradient = true;

    /// <summary>A composite sets its children's <see cref="ComputeInputGradient"/>: those that read its input get its own, the others true.</summary>
    protected virtual void OnComputeInputGradientChanged() { }

    /// <summary>This layer's own trainable parameters (not its children's), each with its value and gradient.</summary>
    public virtual IReadOnlyList<Parameter> Parameters => [];

    /// <summary>Non-trainable state saved with the model (BatchNorm running statistics).</summary>
    public virtual IReadOnlyList<(string Name, Tensor Value)> Buffers => [];

    /// <summary>Direct sub-layers, with the names used in parameter paths.</summary>
    public virtual IReadOnlyList<(string Name, Layer Layer)> Children => [];

    /// <summary>Every parameter of this layer and its sub-layers, depth first, with dotted paths ("0.weight", "3.body.1.bias").</summary>
    public IEnumerable<(string Path, Parameter Parameter)> NamedParameters(string prefix = "")
    {
        foreach (var p in Parameters) yield return (prefix + p.Name, p);
        foreach (var (name, child) in Children)
            foreach (var item in child.NamedParameters(prefix + name + ".")) yield return item;
    }

    /// <summary>Every buffer of this layer and its sub-layers, with dotted paths.</summary>
    public IEnumerable<(string Path, Tensor Value)> NamedBuffers(string prefix = "")
    {
        foreach (var (n, b) in Buffers) yield return (prefix + n, b);
        foreach (var (name, child) in Children)
            foreach (var item in child.NamedBuffers(prefix + name + ".")) yield return item;
    }

    /// <summary>All parameters of the layer tree, in <see cref="NamedParameters"/> order.</summary>
    public IEnumerable<Parameter> AllParameters() => NamedParameters().Select(p => p.Parameter);

    /// <summary>This layer and all layers below it, depth first (pre-order).</summary>
    public IEnumerable<Layer> Descendants()
    {
        yield return this;
        foreach (var (_, child) in Children)
            foreach (var l in child.Descendants()) yield return l;
    }

    /// <summary>Re-draws the parameters (He initialisation) and seeds any randomness from <paramref name="rng"/>.</summary>
    public virtual void Reset(Random rng)
    {
        foreach (var (_, child) in Children) child.Reset(rng);
    }

    /// <summary>
    /// Restarts the random streams of this layer tree (dropout masks): each layer with randomness takes one seed from
    /// <paramref name="nextSeed"/>, in <see cref="Descendants"/> order; layers without draw none. A trainer reseeds at
    /// every epoch so that a resumed run draws the masks an uninterrupted one would.
    /// </summary>
    public virtual void Reseed(Func<int> nextSeed)
    {
        ArgumentNullException.ThrowIfNull(nextSeed);
        foreach (var (_, child) in Children) child.Reseed(nextSeed);
    }

    /// <summary>Multiply-accumulates of one forward pass for a batch of the given input shape.</summary>
    public virtual long MultiplyAccumulates(int[] inputShape) => 0;

    /// <summary>Spatial window of the layer for receptive-field arithmetic on an input of the given shape: effective kernel and stride along H and W.</summary>
    public virtual (Size2 Kernel, Size2 Stride) SpatialWindow(int[] inputShape) => ((1, 1), (1, 1));

    /// <summary>The hyper-parameters as JSON (type + arguments); <see cref="LayerFactory"/> rebuilds the layer from it.</summary>
    public abstract JsonObject ToSpec();

    /// <summary>A one-line PyTorch-like description.</summary>
    public override string ToString() => TypeName;

    /// <summary>Throws unless <paramref name="x"/> has rank <paramref name="rank"/> and a non-empty batch; messages name <paramref name="layer"/>.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="x"/> is null.</exception>
    /// <exception cref="ArgumentException">Another rank, or an empty batch.</exception>
    protected static void CheckRank(Tensor x, int rank, string layer)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Rank != rank)
            throw new ArgumentException($"{layer} expects a rank-{rank} input ({(rank == 4 ? "N, C, H, W" : "N, features")}); got [{x.ShapeString}].", "x");
        if (x.Shape[0] == 0) throw new ArgumentException($"{layer} got an empty batch [{x.ShapeString}]; a batch needs at least one sample.", "x");
    }

    /// <summary>Throws an <see cref="ArgumentException"/> naming <paramref name="layer"/> unless <paramref name="shape"/> has <paramref name="rank"/> dimensions.</summary>
    protected static void CheckRank(int[] shape, int rank, string layer)
    {
        if (shape.Length != rank)
            throw new ArgumentException($"{layer} expects a rank-{rank} input ({(rank == 4 ? "N, C, H, W" : "N, features")}); got [{string.Join(", ", shape)}].", "inputShape");
    }

    /// <summary>The error of a backward with nothing saved for it.</summary>
    protected InvalidOperationException BackwardBeforeForward() => new($"{TypeName}.Backward called before Forward.");

    /// <summary>Checks a backward's <paramref name="dy"/> against the last output <paramref name="y"/>.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="dy"/> is null.</exception>
    /// <exception cref="InvalidOperationException"><paramref name="y"/> is null: no forward ran.</exception>
    /// <exception cref="ArgumentException"><paramref name="dy"/> has another shape than <paramref name="y"/>.</exception>
    protected static void CheckSameShape(Tensor dy, Tensor? y, string layer)
    {
        ArgumentNullException.ThrowIfNull(dy);
        if (y is null) throw new InvalidOperationException($"{layer}.Backward called before Forward.");
        if (!dy.ShapeEquals(y.Shape))
            throw new ArgumentException($"{layer}.Backward expects dy of shape [{y.ShapeString}] (the last output); got [{dy.ShapeString}].", nameof(dy));
    }
}
