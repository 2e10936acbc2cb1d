using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLConv.Training.Models;
using MLConv.Training.Fitting;
using MLConv.Training.Layers;

namespace MLConv.Transforms;

/// <summary>
/// Trains a CNN on the pixels of an image column and produces a <see cref="CnnTransformer"/>.
/// The input schema is checked at <see cref="GetOutputSchema"/> and at <see cref="Fit"/>: the features must
/// be a known-size Single vector of C·H·W values, the label a key or an integer column.
/// </summary>
public sealed class CnnEstimator : IEstimator<CnnTransformer>
{
    private readonly IHostEnvironment _env;
    private readonly TransformsCatalog _transforms;

    /// <summary><paramref name="env"/> is the user's MLContext and <paramref name="transforms"/> its catalog: the fitted transformer scores through them.</summary>
    internal CnnEstimator(IHostEnvironment env, TransformsCatalog transforms, CnnTrainerOptions options)
    {
        _env = env;
        _transforms = transforms;
        Options = options;
    }

    /// <summary>The options the estimator was made with (not rewritten by <see cref="Fit"/>: an image shape left null stays null here; the fitted network has the shape read).</summary>
    public CnnTrainerOptions Options { get; }

    /// <summary>
    /// The input schema plus <c>Score</c> (a vector of Single) and <c>PredictedLabel</c> (a key with the class names).
    /// Checks that the features column is a known-size vector of Single and the label a key or integer column.
    /// </summary>
    /// <param name="inputSchema">The schema of the data the estimator will be fitted on.</param>
    /// <exception cref="ArgumentOutOfRangeException">A column is missing or has the wrong type (the message names it, the type found and the type expected).</exception>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        SchemaChecks.Check(Options, inputSchema);
        var cols = inputSchema.ToDictionary(c => c.Name);
        var keyValues = SchemaChecks.NewColumn("KeyValues", SchemaShape.Column.VectorKind.Vector, TextDataViewType.Instance, false);
        cols[Options.ScoreColumnName] = SchemaChecks.NewColumn(Options.ScoreColumnName, SchemaShape.Column.VectorKind.Vector, NumberDataViewType.Single, false);
        cols[Options.PredictedLabelColumnName] = SchemaChecks.NewColumn(Options.PredictedLabelColumnName, SchemaShape.Column.VectorKind.Scalar,
            NumberDataViewType.UInt32, true, new SchemaShape([keyValues]));
        return new SchemaShape(cols.Values);
    }

    /// <summary>
    /// Reads the image shape from the features column (unless the options set it), reads every row's pixels and label,
    /// builds the network (or loads the pretrained one), trains it with <see cref="CnnTrainerOptions.Trainer"/> and returns
    /// the fitted transformer.
    /// </summary>
    /// <param name="input">Rows with the features and label columns.</param>
    /// <exception cref="ArgumentOutOfRangeException">A column is missing, has the wrong type, or its size fits no image shape (the message says what to set).</exception>
    /// <exception cref="InvalidDataException">A row has a missing label or a non-finite pixel, or an image file named in <see cref="CnnTrainerOptions.ImagePathColumnName"/> is damaged.</exception>
    /// <exception cref="OperationCanceledException"><see cref="CnnTrainerOptions.CancellationToken"/> was cancelled.</exception>
    public CnnTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var o = Options;
        var shape = SchemaChecks.Check(o, input.Schema);
        using var ch = _env.Start("TrainCnn");
        ImageFileCheck.Verify(input, o, "Training data");
        if (o.ValidationData is not null) ImageFileCheck.Verify(o.ValidationData, o, "Validation data");
        var (images, labels, maxLabel) = DataViewReader.Read(input, o, shape, "Training data");
        string[] classNames = DataViewReader.KeyNames(input.Schema[o.LabelColumnName])
            ?? [.. Enumerable.Range(0, maxLabel + 1).Select(i => i.ToString(CultureInfo.InvariantCulture))];
        if (classNames.Length < 2) throw new ArgumentException($"Label column '{o.LabelColumnName}' has {classNames.Length} class; TrainCnn needs at least 2.", nameof(input));
        if (maxLabel >= classNames.Length) throw new InvalidDataException($"Label {maxLabel} is out of range for {classNames.Length} classes.");
        if (input.Schema[o.LabelColumnName].Type is not KeyDataViewType) CheckIntegerClasses(labels, maxLabel, o.LabelColumnName);

        Training.Tensors.Tensor? vx = null;
        int[]? vy = null;
        if (o.ValidationData is not null)
        {
            (vx, vy, _) = DataViewReader.Read(o.ValidationData, o, shape, "Validation data");
            if (vy.Any(l => l >= classNames.Length)) throw new InvalidDataException($"Validation data has labels outside the {classNames.Length} training classes.");
        }
        else if (o.ValidationFraction > 0)
            (images, labels, vx, vy) = Split(images, labels, o.ValidationFraction, o.Trainer.Seed);

        var progress = new LoggingProgress(ch, o.Progress);
        Network network;
        TrainingResult result;
        if (o.PretrainedModel is not null)
            (network, result) = FitPretrained(ch, o, shape, classNames, images, labels, vx, vy, progress);
        else
        {
            var (c, h, w) = shape;
            network = o.CustomArchitecture is { } custom
                ? new Network(custom(c, h, w, classNames.Length), c, h, w, classNames)
                : Architectures.Create(o.Architecture, c, h, w, classNames.Length, o.Trainer.Seed, classNames);
            if (o.CustomArchitecture is not null && o.InitializeCustomArchitecture) network.Root.Reset(new Random(o.Trainer.Seed));
            network = WithNormalization(network, Normalize(o, images));
            ch.Info(MessageSensitivity.None, $"TrainCnn: {network.Architecture} on {shape} images, {network.ParameterCount:N0} parameters, {labels.Length} training rows" +
                (vy is null ? "" : $", {vy.Length} validation rows") + $", {classNames.Length} classes, {o.Trainer.Epochs} epochs");
            result = new Trainer(o.Trainer).Fit(network, images, labels, vx, vy, progress, o.CancellationToken);
        }
        ch.Info(MessageSensitivity.None, $"TrainCnn: done in {result.Elapsed.TotalSeconds:F1} s");
        return new CnnTransformer(_env, _transforms, network, o, result);
    }

    /// <summary>
    /// Integer labels declare the classes 0..max: every one of them must have rows, or a stray value (999 among 0..2) or a
    /// column without class 0 would silently train a model with empty classes.
    /// </summary>
    internal static void CheckIntegerClasses(int[] labels, int maxLabel, string column)
    {
        const string Advice = "Integer labels must be 0..K-1 with every class present; map other labels to a key with MapValueToKey.";
        if (maxLabel >= labels.Length)
            throw new ArgumentException($"Label column '{column}' holds integers up to {maxLabel}, so TrainCnn would train {(long)maxLabel + 1} classes " +
                $"from {labels.Length} rows; at least {(long)maxLabel + 1 - labels.Length} classes would have no rows. {Advice}", "input");
        var counts = new int[maxLabel + 1];
        foreach (int l in labels) counts[l]++;
        var empty = Enumerable.Range(0, counts.Length).Where(c => counts[c] == 0).ToList();
        if (empty.Count > 0)
            throw new ArgumentException($"Label column '{column}' holds integers 0..{maxLabel}, but {empty.Count} of these {counts.Length} classes have no rows " +
                $"({string.Join(", ", empty.Take(10))}{(empty.Count > 10 ? ", ..." : "")}). {Advice}", "input");
    }

    private static Normalization Normalize(CnnTrainerOptions o, Training.Tensors.Tensor images) => o.Normalization switch
    {
        PixelNormalization.None => Normalization.Identity(images.C),
        PixelNormalization.Custom => o.Mean!.Length == images.C ? new Normalization([.. o.Mean!], [.. o.Std!])
            : throw new ArgumentException($"Custom normalization has {o.Mean.Length} means and standard deviations for {images.C}-channel images.", nameof(CnnTrainerOptions.Mean)),
        _ => Normalization.Measure(images),
    };

    private static Network WithNormalization(Network network, Normalization norm) =>
        new(network.Root, network.Channels, network.Height, network.Width, network.ClassNames, norm) { Architecture = network.Architecture };

    /// <summary>
    /// Transfer learning: the pretrained features (its own normalisation when it has one) and a new head. What is frozen
    /// (everything by default; before <see cref="CnnTrainerOptions.FreezeBefore"/>, or all but the last
    /// <see cref="CnnTrainerOptions.TrainLastLayers"/>) and comes first is run once per image: its outputs are computed
    /// once, the trainable rest (with the head) trains on them, and then sits on the frozen part in one network — unless
    /// part of the base trains and image augmentation is asked for, when the whole network trains on augmented images with
    /// the frozen part in inference mode. Fine-tuned (<see cref="CnnTrainerOptions.FineTunePretrained"/>), everything trains.
    /// </summary>
    private static (Network, TrainingResult) FitPretrained(IChannel ch, CnnTrainerOptions o, ImageShape shape, string[] classNames, Training.Tensors.Tensor images,
        int[] labels, Training.Tensors.Tensor? vx, int[]? vy, IProgress<TrainingProgress> progress)
    {
        var pretrained = Export.Onnx.PretrainedNetwork.Load(o.PretrainedModel!, o.PretrainedCutAt);
        var (c, h, w) = shape;
        if (pretrained.Channels != c)
            throw new ArgumentException($"The pretrained network '{pretrained.Name}' reads {pretrained.Channels}-channel images; the features column '{o.FeatureColumnName}' holds {shape} images (ExtractPixels' colours).", nameof(o.Channels));
        var norm = o.Normalization == PixelNormalization.Custom || pretrained.Normalization is null ? Normalize(o, images) : pretrained.Normalization;
        var featureShape = TransferLearning.FeatureShape(pretrained.Features, c, h, w);
        var head = TransferLearning.Head(featureShape, classNames.Length, o.HeadDropout, o.Trainer.Seed);
        string arch = $"{pretrained.Name}+head";
        bool partial = o.FreezeBefore is not null || o.TrainLastLayers is not null;
        var body = o.FreezeBefore is { } before ? TransferLearning.FreezeBefore(pretrained.Features, before)
            : o.TrainLastLayers is { } last ? TransferLearning.FreezeAllButLast(pretrained.Features, last)
            : o.FineTunePretrained ? pretrained.Features
            : new Sequential(new Frozen(pretrained.Features));
        var whole = new Network(new Sequential([.. body.Layers, .. head.Layers]), c, h, w, classNames, norm) { Architecture = arch };
        long trainable = whole.Parameters.Where(p => p.Trainable).Sum(p => (long)p.Value.Length);
        if (body[0] is not Frozen frozen || (partial && o.Trainer.Augments))
        {
            ch.Info(MessageSensitivity.None, $"TrainCnn: fine-tuning {arch}, {trainable:N0} of {whole.ParameterCount:N0} parameters, {labels.Length} training rows, {o.Trainer.Epochs} epochs");
            return (whole, new Trainer(o.Trainer).Fit(whole, images, labels, vx, vy, progress, o.CancellationToken));
        }

        var frozenShape = TransferLearning.FeatureShape(frozen, c, h, w);
        if (frozenShape.Length != 3)
            throw new NotSupportedException($"Frozen activations of shape [{string.Join(", ", frozenShape)}] per image: a frozen part must end in [C, H, W] activations.");
        ch.Info(MessageSensitivity.None, $"TrainCnn: computing the frozen part of {pretrained.Name} [{string.Join(", ", frozenShape)}] for {labels.Length + (vy?.Length ?? 0)} images once");
        var cached = TransferLearning.ComputeFeatures(frozen, images, norm, cancellationToken: o.CancellationToken);
        var vCached = vx is null ? null : TransferLearning.ComputeFeatures(frozen, vx, norm, cancellationToken: o.CancellationToken);
        var rest = new Network(new Sequential([.. body.Layers.Skip(1), .. head.Layers]), frozenShape[0], frozenShape[1], frozenShape[2], classNames);
        var restOptions = o.Trainer.Clone();
        restOptions.RandomShift = 0;
        restOptions.HorizontalFlip = false;
        restOptions.RandomCropScale = 1;
        restOptions.Brightness = restOptions.Contrast = restOptions.Saturation = 0;
        ch.Info(MessageSensitivity.None, $"TrainCnn: training {trainable:N0} parameters on the frozen {pretrained.Name} activations, {o.Trainer.Epochs} epochs");
        var result = new Trainer(restOptions).Fit(rest, cached, labels, vCached, vy, progress, o.CancellationToken);
        return (whole, result);
    }

    private static (Training.Tensors.Tensor, int[], Training.Tensors.Tensor, int[]) Split(Training.Tensors.Tensor images, int[] labels, double fraction, int seed)
    {
        int n = labels.Length, nv = Math.Max(1, (int)Math.Round(n * fraction));
        if (nv >= n) throw new ArgumentOutOfRangeException(nameof(CnnTrainerOptions.ValidationFraction), fraction, $"ValidationFraction {fraction} leaves no training rows out of {n}.");
        var order = Enumerable.Range(0, n).ToArray();
        new Random(seed).Shuffle(order);
        var vIdx = order[..nv];
        var tIdx = order[nv..];
        Array.Sort(tIdx);
        Array.Sort(vIdx);
        return (Training.Tensors.Rows.Gather(images, tIdx), [.. tIdx.Select(i => labels[i])], Training.Tensors.Rows.Gather(images, vIdx), [.. vIdx.Select(i => labels[i])]);
    }

    /// <summary>Forwards progress to the user's IProgress and writes epoch lines to MLContext's log.</summary>
    private sealed class LoggingProgress(IChannel channel, IProgress<TrainingProgress>? inner) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value)
        {
            if (value.Kind == ProgressKind.Epoch) channel.Info(MessageSensitivity.None, "TrainCnn: " + value);
            inner?.Report(value);
        }
    }
}
