using System.Text.Json.Nodes;
using MLConv.Training.Init;
using MLConv.Training.Kernels;
using MLConv.Training.Tensors;

namespace MLConv.Training.Layers;

/// <summary>
/// Fully connected layer: y = x · Wᵀ + b, W of shape [out, in] (PyTorch's and ONNX Gemm transB=1 layout).
/// Backward: dW += dyᵀ · x, db += Σ_rows dy, dx = dy · W.
/// </summary>
public sealed class Linear : Layer
{
    private readonly Parameter _weight;
    private readonly Parameter? _bias;
    private Tensor? _y, _dx;
    private Saved? _saved;

    /// <summary>What backward reads, kept by the last forward: x (for dW) and y (its shape).</summary>
    private readonly record struct Saved(Tensor X, Tensor Y);

    /// <summary>A fully connected layer [N, in] → [N, out]; W is drawn He-normal from <paramref name="rng"/> (default: seed 0), b is zero.</summary>
    /// <param name="inFeatures">Input features (≥ 1).</param>
    /// <param name="outFeatures">Output features (≥ 1).</param>
    /// <param name="bias">Whether to add a learnable bias.</param>
    /// <param name="rng">Initialisation randomness; null for <c>new Random(0)</c>.</param>
    /// <exception cref="ArgumentOutOfRangeException">A feature count is below 1.</exception>
    public Linear(int inFeatures, int outFeatures, bool bias = true, Random? rng = null) : this(inFeatures, outFeatures, bias)
    {
        Reset(rng ?? new Random(0));
    }

    /// <summary>
    /// A Linear holding a copy of <paramref name="weight"/> ([out, in]) and <paramref name="bias"/> ([out], or none),
    /// without drawing random weights first (importers: a VGG classifier holds 10⁸ weights).
    /// </summary>
    public static Linear FromWeights(Tensor weight, Tensor? bias = null)
    {
        ArgumentNullException.ThrowIfNull(weight);
        if (weight.Rank != 2 || weight.Shape[0] < 1 || weight.Shape[1] < 1)
            throw new ArgumentException($"weight must be [outFeatures, inFeatures] with both >= 1; got [{weight.ShapeString}].", nameof(weight));
        if (bias is not null && bias.Length != weight.Shape[0])
            throw new ArgumentException($"bias must have {weight.Shape[0]} values (one per output); got [{bias.ShapeString}].", nameof(bias));
        var linear = new Linear(weight.Shape[1], weight.Shape[0], bias is not null);
        weight.Span.CopyTo(linear._weight.Value.Span);
        if (bias is not null) bias.Span.CopyTo(linear._bias!.Value.Span);
        return linear;
    }

    private Linear(int inFeatures, int outFeatures, bool bias)
    {
        if (inFeatures < 1) throw new ArgumentOutOfRangeException(nameof(inFeatures), inFeatures, "inFeatures must be >= 1.");
        if (outFeatures < 1) throw new ArgumentOutOfRangeException(nameof(outFeatures), outFeatures, "outFeatures must be >= 1.");
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        _weight = new Parameter("weight", new Tensor(outFeatures, inFeatures));
        if (bias) _bias = new Parameter("bias", new Tensor(outFeatures)) { Decay = false };
    }

    /// <summary>Input features.</summary>
    public int InFeatures { get; }
    /// <summary>Output features.</summary>
    public int OutFeatures { get; }
    /// <summary>W, [out, in] ("weight").</summary>
    public Parameter Weight => _weight;
    /// <summary>b, [out] ("bias"), or null without one.</summary>
    public Parameter? Bias => _bias;
    /// <inheritdoc/>
    public override IReadOnlyList<Parameter> Parameters => _bias is null ? [_weight] : [_weight, _bias];

    /// <inheritdoc/>
    public override void Reset(Random rng)
    {
        Initializers.HeNormal(_weight.Value.Span, InFeatures, rng);
        _bias?.Value.Clear();
    }

    /// <inheritdoc/>
    public override int[] OutputShape(int[] inputShape)
    {
        CheckRank(inputShape, 2, "Linear");
        if (inputShape[1] != InFeatures)
            throw new ArgumentException($"Linear expects {InFeatures} input features; got an input of shape [{string.Join(", ", inputShape)}].", "x");
        return [inputShape[0], OutFeatures];
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor x, bool training)
    {
        CheckRank(x, 2, "Linear");
        var shape = OutputShape(x.ShapeArray);
        var y = Tensor.Reuse(ref _y, shape);
        int n = x.N;
        if (_bias is null) y.Clear();
        else for (int i = 0; i < n; i++) _bias.Value.Span.CopyTo(y.Data.AsSpan(i * OutFeatures, OutFeatures));
        Gemm.Multiply(false, true, n, OutFeatures, InFeatures, 1f, x.Span, InFeatures, _weight.Value.Span, InFeatures, 1f, y.Span, OutFeatures);
        _saved = new Saved(x, y);
        return y;
    }

    /// <inheritdoc/>
    public override Tensor Backward(Tensor dy)
    {
        var (x, y) = _saved ?? throw BackwardBeforeForward();
        CheckSameShape(dy, y, "Linear");
        int n = x.N;
        Gemm.Multiply(true, false, OutFeatures, InFeatures, n, 1f, dy.Span, OutFeatures, x.Span, InFeatures, 1f, _weight.Grad.Span, InFeatures);
        if (_bias is not null)
        {
            var db = _bias.Grad.Span;
            for (int i = 0; i < n; i++) System.Numerics.Tensors.TensorPrimitives.Add(db, dy.Data.AsSpan(i * OutFeatures, OutFeatures), db);
        }
        var dx = Tensor.Reuse(ref _dx, x.ShapeArray);
        if (!ComputeInputGradient) return dx;
        Gemm.Multiply(false, false, n, InFeatures, OutFeatures, 1f, dy.Span, OutFeatures, _weight.Value.Span, InFeatures, 0f, dx.Span, InFeatures);
        return dx;
    }

    /// <inheritdoc/>
    public override long MultiplyAccumulates(int[] inputShape) => (long)inputShape[0] * InFeatures * OutFeatures;

    /// <inheritdoc/>
    public override JsonObject ToSpec() => new()
    {
        ["type"] = TypeName,
        ["inFeatures"] = InFeatures,
        ["outFeatures"] = OutFeatures,
        ["bias"] = _bias is not null,
    };

    /// <summary>Rebuilds a <see cref="Linear"/> from <paramref name="spec"/>, the JSON its <see cref="Layer.ToSpec"/> writes (<see cref="LayerFactory"/> calls this).</summary>
    public static Linear FromSpec(JsonObject spec) => new(Spec.Int(spec, "inFeatures"), Spec.Int(spec, "outFeatures"), Spec.Bool(spec, "bias"));

    /// <inheritdoc/>
    public override string ToString() => $"Linear(in_features={InFeatures}, out_features={OutFeatures}{(_bias is null ? ", bias=False" : "")})";
}
