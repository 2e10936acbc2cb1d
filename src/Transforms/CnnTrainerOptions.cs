using Microsoft.ML;
using MLConv.Training.Layers;
using MLConv.Training.Fitting;

namespace MLConv.Transforms;

/// <summary>How input pixels are normalised before the network (stored in the model and in its ONNX export).</summary>
public enum PixelNormalization
{
    /// <summary>Per-channel mean and standard deviation measured on the training data (default).</summary>
    Auto,
    /// <summary>Pixels are fed as they are.</summary>
    None,
    /// <summary>The <see cref="CnnTrainerOptions.Mean"/> and <see cref="CnnTrainerOptions.Std"/> given.</summary>
    Custom,
}

/// <summary>What scoring does with a row whose features hold NaN or an infinity (the network's output would mean nothing).</summary>
public enum NonFiniteFeatures
{
    /// <summary>Scoring the row throws an <see cref="InvalidDataException"/> naming the features column (default).</summary>
    Reject,
    /// <summary>The row gets NaN scores and a missing PredictedLabel (key 0); other rows score as usual.</summary>
    Flag,
}

/// <summary>
/// Options of <see cref="CnnCatalog.TrainCnn(TransformsCatalog, CnnTrainerOptions)"/>: the columns, the network, the input
/// and its normalisation, the validation data, and <see cref="Trainer"/> — the pure-C# trainer's own options, whose defaults
/// (LeNet-5 here, Adam with a one-cycle schedule peaking at 4e-3, batch 64, 15 epochs, ±2-pixel random shifts) reach
/// 98.4–98.5% on the 2,000 held-out MNIST digits in the main job (README). The image size and channel count are read from
/// the features column unless set (<see cref="ImageHeight"/>, <see cref="ImageWidth"/>, <see cref="Channels"/>).
/// </summary>
public sealed class CnnTrainerOptions
{
    /// <summary>Label column: a key (e.g. from <c>MapValueToKey</c>) or an integer column with values 0..classes−1.</summary>
    public string LabelColumnName { get; set; } = "Label";
    /// <summary>Features column: a known-size float vector of channels·height·width planar (CHW) pixels, as <c>ExtractPixels</c> writes.</summary>
    public string FeatureColumnName { get; set; } = "Features";
    /// <summary>Output column of class probabilities (a vector of Single, one per class, in key order).</summary>
    public string ScoreColumnName { get; set; } = "Score";
    /// <summary>Output column of the most probable class: a key whose values are the class names.</summary>
    public string PredictedLabelColumnName { get; set; } = "PredictedLabel";

    /// <summary>One of LeNet5, SimpleCNN, ResNet, ResNet20, MobileNetV2 (ignored when <see cref="CustomArchitecture"/> is set).</summary>
    public string Architecture { get; set; } = "LeNet5";
    /// <summary>A custom network: (channels, height, width, classes) → layers ending in [N, classes] logits.</summary>
    public Func<int, int, int, int, Sequential>? CustomArchitecture { get; set; }
    /// <summary>Re-draw a custom architecture's weights from <see cref="TrainerOptions.Seed"/> (He init) before training; false keeps the weights it was built with (e.g. preset filters).</summary>
    public bool InitializeCustomArchitecture { get; set; } = true;

    /// <summary>
    /// Start from a pretrained network instead of <see cref="Architecture"/>: <c>"ResNet18"</c> (the ImageNet ResNet-18 of
    /// the Microsoft.ML.DnnImageFeaturizer.ResNet18 package, 224x224 RGB — resize to it), a path to an ONNX file or a
    /// path to an MLConv model file. It is cut at <see cref="PretrainedCutAt"/> (default: its features before any
    /// classifier) and gets a new head sized to the label count. The network's own normalisation is used when it
    /// has one (ResNet18, .mlconv files); for an ONNX file set <see cref="Normalization"/> to what it was trained with.
    /// </summary>
    public string? PretrainedModel { get; set; }
    /// <summary>The graph value of <see cref="PretrainedModel"/> whose activations feed the new head (default: the features before the classifier).</summary>
    public string? PretrainedCutAt { get; set; }
    /// <summary>
    /// False (default): the pretrained layers stay as they are, in inference mode, and their outputs are computed once
    /// per image and reused every epoch — only the head trains (image augmentation does not apply then). True: every layer trains.
    /// </summary>
    public bool FineTunePretrained { get; set; }
    /// <summary>
    /// Fine-tunes part of the pretrained network: everything before this stays frozen (inference mode, weights kept) and the
    /// rest trains with the head. A graph node's name (the layers its inputs come from freeze), a graph value's name (it
    /// and what it is computed from freeze) or, for a chain, a layer index. Implies fine-tuning; null (default): see
    /// <see cref="FineTunePretrained"/>.
    /// </summary>
    public string? FreezeBefore { get; set; }
    /// <summary>
    /// Fine-tunes only the last N layers with parameters of the pretrained network (each convolution, batch norm, linear
    /// counts once), with the head; the layers before them stay frozen. Implies fine-tuning; null (default): see
    /// <see cref="FineTunePretrained"/>. With either option, when the trainable part reads one activation of the frozen
    /// part (a cut between residual blocks) and no image augmentation is set (RandomShift = 0 among them), the frozen
    /// part runs once per image and only the rest trains per epoch; with augmentation, the frozen part runs every batch.
    /// </summary>
    public int? TrainLastLayers { get; set; }
    /// <summary>Dropout before the new head's Linear layer (pretrained networks only).</summary>
    public double HeadDropout { get; set; } = 0.2;

    /// <summary>
    /// Image height in pixels; null (the default) reads it from the features column: the [C, H, W] dimensions that
    /// <c>ExtractPixels</c> gives its column type, or else the vector size with the given width (or a square image).
    /// </summary>
    public int? ImageHeight { get; set; }
    /// <summary>Image width in pixels; null (the default) reads it from the features column, as <see cref="ImageHeight"/>.</summary>
    public int? ImageWidth { get; set; }
    /// <summary>
    /// Colour planes per image: 1 (grey), 3 (RGB) or 4 (RGBA); null (the default) reads it from the features column
    /// (<c>ExtractPixels</c>' dimensions, or the one of 1, 3 and 4 that the vector size and the image sides allow —
    /// an error names the choices when several do).
    /// </summary>
    public int? Channels { get; set; }

    /// <summary>
    /// How to train: epochs, batch size, optimizer, schedule, augmentation, early stopping, checkpoints (see
    /// <see cref="TrainerOptions"/> for the defaults). Its <see cref="TrainerOptions.Seed"/> also draws the weights and the validation split.
    /// Data-parallel training over MPI: set its <see cref="TrainerOptions.Communicator"/> (every rank fits the same pipeline on the
    /// same data and ends with the same model; save it on rank 0 only).
    /// </summary>
    public TrainerOptions Trainer { get; set; } = new();

    /// <summary>Fraction of the training rows held out for per-epoch validation (0 = none; ignored when <see cref="ValidationData"/> is set).</summary>
    public double ValidationFraction { get; set; }
    /// <summary>Validation rows with the same schema as the training data.</summary>
    public IDataView? ValidationData { get; set; }

    /// <summary>How the pixels are normalised before the network (measured on the training data by default); the normalisation is stored in the model and in its ONNX export.</summary>
    public PixelNormalization Normalization { get; set; } = PixelNormalization.Auto;

    /// <summary>
    /// Scoring rows whose features hold NaN or ±∞, on both paths (ML.NET's Transform/PredictionEngine and
    /// <see cref="CnnTransformer.PredictWithNetwork"/>): <see cref="Transforms.NonFiniteFeatures.Reject"/> (default) throws,
    /// <see cref="Transforms.NonFiniteFeatures.Flag"/> gives NaN scores and a missing label. Training rows must always be finite.
    /// </summary>
    public NonFiniteFeatures NonFiniteFeatures { get; set; } = NonFiniteFeatures.Reject;
    /// <summary>Per-channel means for <see cref="PixelNormalization.Custom"/>, in the pixels' own scale (0–255 after ExtractPixels).</summary>
    public float[]? Mean { get; set; }
    /// <summary>Per-channel standard deviations (> 0) for <see cref="PixelNormalization.Custom"/>.</summary>
    public float[]? Std { get; set; }

    /// <summary>
    /// The text column holding the image file paths that <c>LoadImages</c> read (default "ImagePath"). When the training
    /// (or validation) data has this column, <c>Fit</c> first decodes every file it names with MLConv's strict decoders
    /// (PNG chunk CRCs and a complete image stream, JPEG and BMP through StbImageSharp) and refuses a damaged file naming it
    /// and its row: ML.NET's <c>LoadImages</c> hands over a PNG cut short as a complete image with black rows, which would
    /// otherwise be trained on. Null, or a name the data does not have, skips the check.
    /// </summary>
    public string? ImagePathColumnName { get; set; } = "ImagePath";
    /// <summary>The folder relative paths in <see cref="ImagePathColumnName"/> are read from (<c>LoadImages</c>' <c>imageFolder</c>); null: the current directory.</summary>
    public string? ImageFolder { get; set; }

    /// <summary>Receives per-batch and per-epoch progress (epochs are also written to MLContext's log).</summary>
    public IProgress<TrainingProgress>? Progress { get; set; }
    /// <summary>Stops training between batches; <c>Fit</c> then throws <see cref="OperationCanceledException"/> (a checkpoint, when configured, holds the last finished epoch).</summary>
    public CancellationToken CancellationToken { get; set; }

    internal void Validate()
    {
        Check(LabelColumnName, nameof(LabelColumnName));
        Check(FeatureColumnName, nameof(FeatureColumnName));
        Check(ScoreColumnName, nameof(ScoreColumnName));
        Check(PredictedLabelColumnName, nameof(PredictedLabelColumnName));
        if (ImageHeight < 1) throw new ArgumentOutOfRangeException(nameof(ImageHeight), ImageHeight, "ImageHeight must be >= 1 (or null: read from the features column).");
        if (ImageWidth < 1) throw new ArgumentOutOfRangeException(nameof(ImageWidth), ImageWidth, "ImageWidth must be >= 1 (or null: read from the features column).");
        if (Channels is not (null or 1 or 3 or 4)) throw new ArgumentOutOfRangeException(nameof(Channels), Channels, "Channels must be 1, 3 or 4 (or null: read from the features column).");
        if (!(ValidationFraction >= 0 && ValidationFraction < 1)) throw new ArgumentOutOfRangeException(nameof(ValidationFraction), ValidationFraction, "ValidationFraction must be in [0, 1).");
        if (!Enum.IsDefined(Normalization))
            throw new ArgumentOutOfRangeException(nameof(Normalization), Normalization, $"Normalization {(int)Normalization} is not one of {string.Join(", ", Enum.GetNames<PixelNormalization>())}.");
        if (!Enum.IsDefined(NonFiniteFeatures))
            throw new ArgumentOutOfRangeException(nameof(NonFiniteFeatures), NonFiniteFeatures, $"NonFiniteFeatures {(int)NonFiniteFeatures} is not one of {string.Join(", ", Enum.GetNames<NonFiniteFeatures>())}.");
        if (Normalization == PixelNormalization.Custom && (Mean is null || Std is null || Mean.Length != Std.Length || Mean.Length != (Channels ?? Mean.Length) || Std.Any(s => !(s > 0) || !float.IsFinite(s)) || Mean.Any(m => !float.IsFinite(m))))
            throw new ArgumentException($"Custom normalization needs Mean and Std with one value per channel ({(Channels is { } c ? c.ToString(System.Globalization.CultureInfo.InvariantCulture) : "as many as the images have")}) each, finite, Std > 0.", nameof(Normalization));
        if (!(HeadDropout >= 0 && HeadDropout < 1)) throw new ArgumentOutOfRangeException(nameof(HeadDropout), HeadDropout, "HeadDropout must be in [0, 1).");
        if (FreezeBefore is not null && TrainLastLayers is not null)
            throw new ArgumentException("Set either FreezeBefore or TrainLastLayers, not both.", nameof(FreezeBefore));
        if (FreezeBefore is { } fb && string.IsNullOrWhiteSpace(fb)) throw new ArgumentException("FreezeBefore must name a graph node or value, or a layer index.", nameof(FreezeBefore));
        if (TrainLastLayers is < 0) throw new ArgumentOutOfRangeException(nameof(TrainLastLayers), TrainLastLayers, "TrainLastLayers must be >= 0.");
        if ((FreezeBefore is not null || TrainLastLayers is not null) && PretrainedModel is null)
            throw new ArgumentException("FreezeBefore and TrainLastLayers apply to a PretrainedModel; none is set.", nameof(PretrainedModel));
        if (PretrainedModel is not null && (CustomArchitecture is not null))
            throw new ArgumentException("Set either PretrainedModel or CustomArchitecture, not both.", nameof(PretrainedModel));
        if (Trainer is null) throw new ArgumentNullException(nameof(Trainer), "Trainer must hold the trainer's options.");
        Trainer.Validate();
    }

    private static void Check(string value, string name)
    {
        if (string.IsNullOrWhiteSpace(value)) throw new ArgumentException($"{name} must name a column.", name);
    }
}
