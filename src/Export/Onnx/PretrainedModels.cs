namespace MLConv.Export.Onnx;

/// <summary>
/// Locates the pretrained networks that ship in NuGet packages, for <see cref="OnnxImporter"/> to read. The one
/// reachable today is the ImageNet ResNet-18 of Microsoft.ML.DnnImageFeaturizer.ResNet18 (a CNTK export, opset 8:
/// input <see cref="ResNet18Input"/> [1, 3, 224, 224], output <see cref="ResNet18Features"/>, the 512 pooled
/// features [1, 512, 1, 1] before the classifier). The package's build props copy <c>DnnImageModels/</c> next to
/// the consuming project's output; without them (a <c>PackageDownload</c>, or a package referenced by another
/// project) the file is read from the NuGet package cache.
/// </summary>
public static class PretrainedModels
{
    /// <summary>The NuGet package that ships ResNet-18, and the version whose file layout is known.</summary>
    public const string ResNet18Package = "Microsoft.ML.DnnImageFeaturizer.ResNet18", ResNet18PackageVersion = "0.23.1";

    /// <summary>ResNet-18's input (BGR planes of 0..255 pixels minus a mean image, as the package's ResNetPreprocess.onnx makes them from RGB) and its pooled-feature output.</summary>
    public const string ResNet18Input = "Input247", ResNet18Features = "Pooling395_Output_0";

    /// <summary>The input (RGB planes of 0..255 pixels, [1, 3, 224, 224]) and output (BGR planes minus the mean image) of the package's ResNetPreprocess.onnx.</summary>
    public const string PreprocessInput = "OriginalInput", PreprocessOutput = "PreprocessedInput";

    private static readonly string[] ResNet18RelativePath = ["DnnImageModels", "ResNet18Onnx", "ResNet18.onnx"];
    private static readonly string[] PreprocessRelativePath = ["DnnImageModels", "ResNetPrepOnnx", "ResNetPreprocess.onnx"];

    /// <summary>
    /// The path of ResNet18.onnx: next to the application (<see cref="AppContext.BaseDirectory"/>, where the
    /// package's props copy it), else in the NuGet package cache (<c>NUGET_PACKAGES</c>, else
    /// <c>~/.nuget/packages</c>). Throws <see cref="FileNotFoundException"/> naming the package to reference when
    /// neither holds it.
    /// </summary>
    public static string ResNet18OnnxPath() => TryResNet18OnnxPath() ?? throw new FileNotFoundException(
        $"The pretrained ResNet-18 was found neither next to the application nor in the NuGet package cache (looked in: " +
        $"{string.Join("; ", ResNet18Candidates())}). Reference the package: dotnet add package {ResNet18Package} --version {ResNet18PackageVersion}",
        ResNet18Candidates().First());

    /// <summary>The path of ResNet18.onnx as <see cref="ResNet18OnnxPath"/> finds it, or null when absent.</summary>
    public static string? TryResNet18OnnxPath() => ResNet18Candidates().FirstOrDefault(File.Exists);

    /// <summary>
    /// The path of the package's ResNetPreprocess.onnx (RGB → BGR by Split and Concat, then Sub of a 224×224 mean image),
    /// looked for as <see cref="ResNet18OnnxPath"/> looks for ResNet18.onnx, or null when absent.
    /// </summary>
    public static string? TryResNetPreprocessOnnxPath() => Candidates(PreprocessRelativePath).FirstOrDefault(File.Exists);

    private static IEnumerable<string> ResNet18Candidates() => Candidates(ResNet18RelativePath);

    private static IEnumerable<string> Candidates(string[] relativePath)
    {
        yield return Path.Combine([AppContext.BaseDirectory, .. relativePath]);
        foreach (var cache in PackageCaches())
            yield return Path.Combine([cache, ResNet18Package.ToLowerInvariant(), ResNet18PackageVersion, "tools", .. relativePath]);
    }

    private static IEnumerable<string> PackageCaches()
    {
        if (Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } configured) yield return configured;
        string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        if (home.Length > 0) yield return Path.Combine(home, ".nuget", "packages");
    }
}
