using MLConv.Training.Layers;
using MLConv.Training.Models;

namespace MLConv.Export.Onnx;

/// <summary>
/// A pretrained feature extractor to fine-tune from: its layers (cut before any classifier, or at a named graph value),
/// the input size it was trained at, and the pixel normalisation it expects (null when the source does not say).
/// </summary>
public sealed record PretrainedNetwork(Sequential Features, int Channels, int Height, int Width, Normalization? Normalization, string Name)
{
    /// <summary>The name that selects the ImageNet ResNet-18 of Microsoft.ML.DnnImageFeaturizer.ResNet18.</summary>
    public const string ResNet18 = "ResNet18";

    /// <summary>
    /// Loads <paramref name="source"/>: <see cref="ResNet18"/> (the packaged ImageNet ResNet-18, located by
    /// <see cref="PretrainedModels.ResNet18OnnxPath"/>), a path to an ONNX file, or a path to an MLConv model file (.mlconv).
    /// <paramref name="cutAt"/> names the graph value whose activations become the features (default: what comes before the
    /// classifier layers; the packaged ResNet-18 already ends in its 512 pooled features).
    /// </summary>
    public static PretrainedNetwork Load(string source, string? cutAt = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(source);
        if (string.Equals(source, ResNet18, StringComparison.OrdinalIgnoreCase)) return LoadResNet18(cutAt);
        if (!File.Exists(source))
            throw new FileNotFoundException($"No pretrained model at '{source}' (expected an .onnx file, an .mlconv model file, or \"{ResNet18}\").", source);
        if (source.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase))
        {
            var model = OnnxImporter.Import(source, Options);
            var (c, h, w) = ImageShape(model.InputShape, source);
            return new PretrainedNetwork(TransferLearning.FeatureExtractor(model.Root, cutAt), c, h, w, null, Path.GetFileNameWithoutExtension(source));
        }
        var network = ModelFile.Load(source);
        return new PretrainedNetwork(TransferLearning.FeatureExtractor(network.Root, cutAt), network.Channels, network.Height, network.Width,
            network.Normalization, network.Architecture);
    }

    /// <summary>
    /// The packaged ResNet-18 reads BGR pixels (0–255) minus a mean image (ResNetPreprocess.onnx: Split, Concat as B, G, R,
    /// Sub). MLConv feeds RGB: the first convolution's input channels are swapped instead, and the mean image is replaced by
    /// its per-channel means (R 123.15, G 115.90, B 103.06; the image deviates from them by at most 12.7 grey levels).
    /// </summary>
    private static PretrainedNetwork LoadResNet18(string? cutAt)
    {
        string path = PretrainedModels.ResNet18OnnxPath();
        var model = OnnxImporter.Import(path, Options);
        var first = model.Root.Descendants().OfType<Conv2d>().FirstOrDefault()
            ?? throw new InvalidDataException($"'{path}' holds no convolution; it is not the expected ResNet-18.");
        if (first.InChannels != 3 || first.Groups != 1) throw new InvalidDataException($"'{path}': the first convolution reads {first.InChannels} channels; 3 expected.");
        var wt = first.Weight.Value.Span;
        int plane = first.Geometry.KernelH * first.Geometry.KernelW;
        for (int o = 0; o < first.OutChannels; o++)
            for (int k = 0; k < plane; k++)
                (wt[(o * 3 + 0) * plane + k], wt[(o * 3 + 2) * plane + k]) = (wt[(o * 3 + 2) * plane + k], wt[(o * 3 + 0) * plane + k]);
        var norm = new Normalization([123.15163f, 115.90288f, 103.06262f], [1f, 1f, 1f]);
        return new PretrainedNetwork(TransferLearning.FeatureExtractor(model.Root, cutAt), 3, 224, 224, norm, ResNet18);
    }

    /// <summary>A file exported for batch 1 still takes any batch; a pooling window over the whole map reads as global pooling (other image sizes work).</summary>
    private static readonly OnnxImportOptions Options = new() { FreeBatch = true, WholeWindowPoolingAsGlobal = true };

    private static (int C, int H, int W) ImageShape(int[] inputShape, string path) => inputShape is [_, > 0 and var c, > 0 and var h, > 0 and var w]
        ? (c, h, w)
        : throw new InvalidDataException($"'{path}' takes input [{string.Join(", ", inputShape)}]; an image input [N, C, H, W] with known C, H and W is needed.");
}
