using MLConv.Training.Data;
using MLConv.Training.Models;

namespace MLConv.Cli;

/// <summary>How the commands find their images in a folder and say what they left out.</summary>
internal static class ImageData
{
    /// <summary>The split a folder comes with: <c>&lt;folder&gt;/split.txt</c> (the MNIST tooling writes one).</summary>
    public static string DefaultSplitFile(string folder) => Path.Combine(folder, MnistSplit.FileName);

    /// <summary>
    /// The images to evaluate on: the test part of <paramref name="splitFile"/>, else of the folder's split.txt, else
    /// (or with <paramref name="all"/>) every image. Returns the selection and a phrase saying which it is.
    /// </summary>
    public static (ImageFolder Images, string What) TestImages(CliContext ctx, string data, string? splitFile, bool all)
    {
        var folder = Scan(ctx, data);
        if (all) return (folder, $"all {folder.Count} images");
        string? file = splitFile ?? (File.Exists(DefaultSplitFile(data)) ? DefaultSplitFile(data) : null);
        if (file is null) return (folder, $"all {folder.Count} images (no split file)");
        var split = ImageSplit.Read(file);
        if (split.Test.Count == 0) throw new InvalidDataException($"'{file}' lists no test images.");
        return (folder.Select(split.Test), $"the {split.Test.Count} test images of {file}");
    }

    /// <summary>Scans <paramref name="data"/> and reports what it skipped.</summary>
    public static ImageFolder Scan(CliContext ctx, string data)
    {
        var folder = ImageFolder.Scan(data);
        if (folder.Skipped.Count > 0)
        {
            ctx.Line($"Skipped {folder.Skipped.Count} entr{(folder.Skipped.Count == 1 ? "y" : "ies")} of {data}:");
            foreach (var s in folder.Skipped.Take(10)) ctx.Line($"  {s.RelativePath}: {s.Reason}");
            if (folder.Skipped.Count > 10) ctx.Line($"  ... and {folder.Skipped.Count - 10} more");
        }
        return folder;
    }

    /// <summary>The images as <paramref name="network"/> takes them (its channels and size), labels as its class indices.</summary>
    public static ImageDataset LoadFor(Network network, ImageFolder images, CancellationToken cancellationToken)
    {
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < network.ClassNames.Count; i++) index[network.ClassNames[i]] = i;
        var unknown = images.ClassNames.Where((name, c) => !index.ContainsKey(name) && images.Labels.Contains(c)).ToArray();
        if (unknown.Length > 0)
            throw new InvalidDataException($"The folder's class{(unknown.Length > 1 ? "es" : "")} {string.Join(", ", unknown.Select(u => $"'{u}'"))} " +
                $"{(unknown.Length > 1 ? "are" : "is")} not among the model's classes ({string.Join(", ", network.ClassNames)}).");
        var loaded = images.Load(network.Channels, network.Height, network.Width, cancellationToken: cancellationToken);
        int[] labels = [.. loaded.Labels.Select(l => index[images.ClassNames[l]])];
        ToNetworkScale(network, loaded.Images);
        return new ImageDataset(loaded.Images, labels, network.ClassNames);
    }

    /// <summary>Decodes image files as <paramref name="network"/> takes them: [N, C, H, W] pixels in 0..1 (0..255 for a network made for those, see <see cref="ToNetworkScale"/>).</summary>
    public static Training.Tensors.Tensor LoadFiles(Network network, IReadOnlyList<string> paths)
    {
        int size = network.Channels * network.Height * network.Width;
        var pixels = new Training.Tensors.Tensor(paths.Count, network.Channels, network.Height, network.Width);
        for (int i = 0; i < paths.Count; i++)
            ImagePixels.ToPlanar(ImageDecoder.Read(paths[i]), network.Channels, network.Height, network.Width, pixels.Data.AsSpan(i * size, size));
        ToNetworkScale(network, pixels);
        return pixels;
    }

    /// <summary>
    /// mlconv reads pixels in 0..1. A normalisation whose means exceed 1.5 was made for 0..255 pixels (the packaged
    /// ResNet-18, a model from ML.NET's ExtractPixels got back with <c>CnnModel.FromTransformer</c> and saved).
    /// </summary>
    public static bool MadeFor0To255(Normalization n) => n.Mean.Any(m => m > 1.5f);

    /// <summary>Scales 0..1 <paramref name="pixels"/> to 0..255 when <paramref name="network"/> was made for those (<see cref="MadeFor0To255"/>).</summary>
    public static void ToNetworkScale(Network network, Training.Tensors.Tensor pixels)
    {
        if (!MadeFor0To255(network.Normalization)) return;
        foreach (ref float v in pixels.Span) v *= 255f;
    }
}
