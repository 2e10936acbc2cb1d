using MLConv.Training.Layers;
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
    /// <summary>Wraps <paramref name="root"/> as a classifier of [N, <paramref name="channels"/>, <paramref name="height"/>, <paramref name="width"/>] inputs; turns off the input gradient of the root (nothing needs it).</summary>
    /// <param name="root">The layers; for a [1, C, H, W] input they must give [1, classes].</param>
    /// <param name="channels">Input channels C (≥ 1).</param>
    /// <param name="height">Input height H in pixels (≥ 1).</param>
    /// <param name="width">Input width W in pixels (≥ 1).</param>
    /// <param name="classNames">One name per output class; null names them "0", "1", ….</param>
    /// <param name="normalization">Per-channel mean and std of the inputs; null for the identity (mean 0, std 1).</param>
    /// <exception cref="ArgumentNullException"><paramref name="root"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A size is below 1.</exception>
    /// <exception cref="ArgumentException">The root does not end in [N, classes], the class names do not match the class count, or the normalisation has the wrong length or non-finite values (or a std ≤ 0).</exception>
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

    /// <summary>The layer tree: [N, C, H, W] normalised images → [N, classes] logits.</summary>
    public Sequential Root { get; }
    /// <summary>Input channels C.</summary>
    public int Channels { get; }
    /// <summary>Input height H in pixels.</summary>
    public int Height { get; }
    /// <summary>Input width W in pixels.</summary>
    public int Width { get; }
    /// <summary>The number of classes: the root's output width.</summary>
    public int NumClasses { get; }
    /// <summary>One name per class, in logit order.</summary>
    public IReadOnlyList<string> ClassNames { get; }
    /// <summary>The per-channel normalisation raw pixels go through before <see cref="Forward"/> (see <see cref="Normalize"/>).</summary>
    public Normalization Normalization { get; }

    /// <summary>Architecture name when built by <see cref="Architectures"/> (informational).</summary>
    public string Architecture { get; init; } = "custom";

    /// <summary>The input shape [<paramref name="batch"/>, C, H, W].</summary>
    public int[] InputShape(int batch) => [batch, Channels, Height, Width];

    /// <summary>Every trainable parameter of the layer tree, in path order.</summary>
    public IEnumerable<Parameter> Parameters => Root.AllParameters();

    /// <summary>Parameters then buffers, each in path order: the tensors a model file or a checkpoint holds.</summary>
    internal List<(string Path, Tensor Value)> StateTensors() =>
        [.. Root.NamedParameters().Select(p => (p.Path, p.Parameter.Value)), .. Root.NamedBuffers()];
    /// <summary>The total number of trainable scalars (sum of the parameters' lengths).</summary>
    public long ParameterCount => Parameters.Sum(p => (long)p.Value.Length);

    /// <summary>Per-layer output shapes, parameters, multiply-accumulates and receptive fields for a batch of <paramref name="batch"/>.</summary>
    public ModelSummary Summary(int batch = 1) => ModelSummary.Create(Root, InputShape(batch));

    /// <summary>Logits [N, classes] for an already-normalised batch (see <see cref="Normalize"/>).</summary>
    public Tensor Forward(Tensor x, bool training)
    {
        CheckInput(x);
        return Root.Forward(x, training);
    }

    /// <summary>Back-propagates the loss gradient with respect to the logits of the last <see cref="Forward"/> (normally a training-mode one), accumulating the parameters' gradients.</summary>
    /// <param name="dLogits">dLoss/dLogits, [N, classes] like the forward's output.</param>
    public void Backward(Tensor dLogits) => Root.Backward(dLogits);

    /// <summary>
    /// Class probabilities [N, classes] in inference mode for raw (un-normalised) [N, C, H, W] pixels: each batch of
    /// <paramref name="batchSize"/> images is normalised (<see cref="Normalize"/>) and run through <see cref="Forward"/>.
    /// </summary>
    public Tensor ProbabilitiesFromPixels(Tensor pixels, int batchSize = 256)
    {
        CheckInput(pixels);
        var result = new Tensor(pixels.N, NumClasses);
        ForEachBatchOfPixels(pixels, batchSize, (start, logits) =>
        {
            for (int i = 0; i < logits.N; i++)
                Rows.Softmax(logits.Data.AsSpan(i * NumClasses, NumClasses), result.Data.AsSpan((start + i) * NumClasses, NumClasses));
        });
        return result;
    }

    /// <summary>
    /// Fuses the network for inference (<see cref="InferencePlan"/>: batch norms folded into the convolutions before them,
    /// ReLUs applied to their outputs) until the plan is disposed or a training-mode forward runs. Inference-mode
    /// <see cref="Forward"/> calls then give the same logits (within float rounding) in less time.
    /// </summary>
    public InferencePlan PrepareForInference() => InferencePlan.Prepare(Root);

    /// <summary>
    /// Normalises consecutive batches of raw pixels and hands each batch's first index and logits (inference mode) to
    /// <paramref name="onBatch"/>; runs under an <see cref="InferencePlan"/> prepared for the call. With
    /// <paramref name="include"/>, only the batches (by index) it accepts.
    /// </summary>
    internal void ForEachBatchOfPixels(Tensor pixels, int batchSize, Action<int, Tensor> onBatch, Func<int, bool>? include = null)
    {
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "batchSize must be >= 1.");
        using var plan = PrepareForInference();
        int n = pixels.N, sample = Channels * Height * Width;
        Tensor? x = null;
        for (int start = 0; start < n; start += batchSize)
        {
            if (include is not null && !include(start / batchSize)) continue;
            int count = Math.Min(batchSize, n - start);
            x = Tensor.Reuse(ref x, count, Channels, Height, Width);
            pixels.Data.AsSpan(start * sample, count * sample).CopyTo(x.Span);
            Normalization.Apply(x);
            onBatch(start, Forward(x, false));
        }
    }

    /// <summary>Applies this network's normalisation in place to raw [N, C, H, W] pixels.</summary>
    public void Normalize(Tensor x)
    {
        CheckInput(x);
        Normalization.Apply(x);
    }

    /// <summary>Checks that <paramref name="x"/> is an [N, C, H, W] batch of this network's input shape (any N).</summary>
    /// <exception cref="ArgumentNullException"><paramref name="x"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="x"/> has another rank or C, H, W.</exception>
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
    /// <summary>The identity normalisation of <paramref name="channels"/> channels: mean 0 and std 1 each.</summary>
    public static Normalization Identity(int channels) => new([.. Enumerable.Repeat(0f, channels)], [.. Enumerable.Repeat(1f, channels)]);

    /// <summary>Per-channel mean and standard deviation of [N, C, H, W] <paramref name="images"/> (the std floored at 1e-6).</summary>
    public static Normalization Measure(Tensor images)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (images.Rank != 4 || images.N == 0) throw new ArgumentException($"images must be a non-empty [N, C, H, W]; got [{images.ShapeString}].", nameof(images));
        int c = images.C, plane = images.H * images.W;
        var mean = new float[c];
        var std = new float[c];
        for (int ch = 0; ch < c; ch++)
        {
            double s = 0, q = 0;
            for (int i = 0; i < images.N; i++)
                foreach (float v in images.Data.AsSpan((i * c + ch) * plane, plane)) { s += v; q += (double)v * v; }
            double n = (double)images.N * plane, m = s / n;
            mean[ch] = (float)m;
            std[ch] = (float)Math.Max(1e-6, Math.Sqrt(Math.Max(0, q / n - m * m)));
        }
        return new Normalization(mean, std);
    }

    /// <summary>Normalises [N, C, H, W] <paramref name="x"/> in place: x = (x − Mean[c]) / Std[c] per channel. Does not check the shape (see <see cref="Network.Normalize"/>).</summary>
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
