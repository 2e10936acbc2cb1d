using MLConv.Training.Layers;
using MLConv.Training.Losses;
using MLConv.Training.Tensors;

namespace MLConv.Training.Models;

/// <summary>
/// A trained or trainable classifier: a root <see cref="Sequential"/> mapping [N, C, H, W] images to
/// [N, classes] logits, plus what a user needs to apply it — the input shape, class names and the
/// normalisation its inputs went through (x' = (x − mean[c]) / std[c], applied by <see cref="Normalize"/>).
/// Like its layers, a network keeps per-call buffers: use one network from one thread at a time.
/// </summary>
public sealed class Network
{
    public Network(Sequential root, int channels, int height, int width, IReadOnlyList<string>? classNames = null, Normalization? normalization = null)
    {
        Root = root ?? throw new ArgumentNullException(nameof(root));
        if (channels < 1) throw new ArgumentOutOfRangeException(nameof(channels), channels, "channels must be >= 1.");
        if (height < 1) throw new ArgumentOutOfRangeException(nameof(height), height, "height must be >= 1.");
        if (width < 1) throw new ArgumentOutOfRangeException(nameof(width), width, "width must be >= 1.");
        Channels = channels; Height = height; Width = width;
        var outShape = root.OutputShape([1, channels, height, width]);
        if (outShape.Length != 2)
            throw new ArgumentException($"The network must end in [N, classes] logits; it gives [{string.Join(", ", outShape)}] for input [1, {channels}, {height}, {width}].", nameof(root));
        NumClasses = outShape[1];
        ClassNames = classNames is null ? [.. Enumerable.Range(0, NumClasses).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture))] : [.. classNames];
        if (ClassNames.Count != NumClasses)
            throw new ArgumentException($"classNames has {ClassNames.Count} names; the network has {NumClasses} outputs.", nameof(classNames));
        Normalization = normalization ?? Normalization.Identity(channels);
        if (Normalization.Mean.Length != channels || Normalization.Std.Length != channels)
            throw new ArgumentException($"normalization has {Normalization.Mean.Length} means and {Normalization.Std.Length} standard deviations; the input has {channels} channels.", nameof(normalization));
        if (Normalization.Mean.Any(v => !float.IsFinite(v)) || Normalization.Std.Any(v => !(v > 0) || !float.IsFinite(v)))
            throw new ArgumentException("normalization needs finite means and finite standard deviations > 0.", nameof(normalization));
        Root.ComputeInputGradient = false;
    }

    public Sequential Root { get; }
    public int Channels { get; }
    public int Height { get; }
    public int Width { get; }
    public int NumClasses { get; }
    public IReadOnlyList<string> ClassNames { get; }
    public Normalization Normalization { get; }

    /// <summary>Architecture name when built by <see cref="Architectures"/> (informational).</summary>
    public string Architecture { get; init; } = "custom";

    public int[] InputShape(int batch) => [batch, Channels, Height, Width];

    public IEnumerable<Parameter> Parameters => Root.AllParameters();
    public long ParameterCount => Parameters.Sum(p => (long)p.Value.Length);

    /// <summary>Per-layer output shapes, parameters, multiply-accumulates and receptive fields for a batch of <paramref name="batch"/>.</summary>
    public ModelSummary Summary(int batch = 1) => ModelSummary.Create(Root, InputShape(batch));

    /// <summary>Logits [N, classes] for an already-normalised batch.</summary>
    public Tensor Forward(Tensor x, bool training)
    {
        CheckInput(x);
        return Root.Forward(x, training);
    }

    public void Backward(Tensor dLogits) => Root.Backward(dLogits);

    /// <summary>Class probabilities [N, classes] in inference mode (x already normalised).</summary>
    public Tensor PredictProbabilities(Tensor x)
    {
        var logits = Forward(x, false);
        var p = new Tensor(logits.ShapeArray);
        SoftmaxCrossEntropy.Softmax(logits, p);
        return p;
    }

    /// <summary>Applies this network's normalisation in place to raw [N, C, H, W] pixels.</summary>
    public void Normalize(Tensor x)
    {
        CheckInput(x);
        Normalization.Apply(x);
    }

    public void CheckInput(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Rank != 4 || x.C != Channels || x.H != Height || x.W != Width)
            throw new ArgumentException($"The network expects input [N, {Channels}, {Height}, {Width}]; got [{x.ShapeString}].", nameof(x));
    }
}

/// <summary>Per-channel input normalisation x' = (x − mean[c]) / std[c].</summary>
public sealed record Normalization(float[] Mean, float[] Std)
{
    public static Normalization Identity(int channels) => new([.. Enumerable.Repeat(0f, channels)], [.. Enumerable.Repeat(1f, channels)]);

    public void Apply(Tensor x)
    {
        int plane = x.H * x.W;
        for (int n = 0; n < x.N; n++)
        for (int c = 0; c < x.C; c++)
        {
            var s = x.Data.AsSpan((n * x.C + c) * plane, plane);
            System.Numerics.Tensors.TensorPrimitives.Subtract(s, Mean[c], s);
            System.Numerics.Tensors.TensorPrimitives.Multiply(s, 1f / Std[c], s);
        }
    }
}
