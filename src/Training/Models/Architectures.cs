using MLConv.Training.Layers;

namespace MLConv.Training.Models;

/// <summary>
/// Ready architectures from the field, each a builder with PyTorch-like parameters. Input size and
/// class count are parameters; the flatten size is derived from the input size.
/// </summary>
public static class Architectures
{
    /// <summary>The names <see cref="Create"/> accepts (it also takes aliases: "LeNet", "VGG", "ResNet8", "ResNet20", "MobileNet").</summary>
    public static readonly IReadOnlyList<string> Names = ["LeNet5", "SimpleCNN", "ResNet", "MobileNetV2"];

    /// <summary>Builds one of <see cref="Names"/> (case-insensitive) for [channels, height, width] inputs.</summary>
    public static Network Create(string name, int channels, int height, int width, int numClasses, int seed = 0, IReadOnlyList<string>? classNames = null)
    {
        ArgumentNullException.ThrowIfNull(name);
        return name.ToLowerInvariant() switch
        {
            "lenet5" or "lenet-5" or "lenet" => LeNet5(channels, height, width, numClasses, seed, classNames),
            "simplecnn" or "vgg" => SimpleCnn(channels, height, width, numClasses, seed: seed, classNames: classNames),
            "resnet" or "resnet8" => ResNet(channels, height, width, numClasses, blocksPerStage: 1, seed: seed, classNames: classNames),
            "resnet20" => ResNet(channels, height, width, numClasses, blocksPerStage: 3, seed: seed, classNames: classNames),
            "mobilenetv2" or "mobilenet" => MobileNetV2(channels, height, width, numClasses, seed: seed, classNames: classNames),
            _ => throw new ArgumentException($"Unknown architecture '{name}'; expected one of {string.Join(", ", Names)}.", nameof(name)),
        };
    }

    private static Network Build(Sequential root, string arch, int channels, int height, int width, int seed, IReadOnlyList<string>? classNames)
    {
        root.Reset(new Random(seed));
        return new Network(root, channels, height, width, classNames) { Architecture = arch };
    }

    private static void CheckInput(int channels, int height, int width, int numClasses, int minSize)
    {
        if (channels < 1) throw new ArgumentOutOfRangeException(nameof(channels), channels, "channels must be >= 1.");
        if (numClasses < 2) throw new ArgumentOutOfRangeException(nameof(numClasses), numClasses, "numClasses must be >= 2.");
        if (height < minSize) throw new ArgumentOutOfRangeException(nameof(height), height, $"This architecture needs inputs of at least {minSize}x{minSize}; got {height}x{width}.");
        if (width < minSize) throw new ArgumentOutOfRangeException(nameof(width), width, $"This architecture needs inputs of at least {minSize}x{minSize}; got {height}x{width}.");
    }

    /// <summary>
    /// LeNet-5 (LeCun et al. 1998) with ReLU and max pooling: conv5x5(6) → pool2 → conv5x5(16) → pool2 → FC120 → FC84 → FC classes.
    /// The first convolution pads by 2 when the input is smaller than the classic 32x32, so 28x28 MNIST keeps the 5x5x16 feature map.
    /// </summary>
    public static Network LeNet5(int channels = 1, int height = 28, int width = 28, int numClasses = 10, int seed = 0, IReadOnlyList<string>? classNames = null)
    {
        CheckInput(channels, height, width, numClasses, 12);
        int pad = height < 32 || width < 32 ? 2 : 0;
        var features = new Sequential(
            new Conv2d(channels, 6, 5, padding: pad), new ReLU(), new MaxPool2d(2),
            new Conv2d(6, 16, 5), new ReLU(), new MaxPool2d(2), new Flatten());
        int flat = features.OutputShape([1, channels, height, width])[1];
        var root = new Sequential([.. features.Layers,
            new Linear(flat, 120), new ReLU(), new Linear(120, 84), new ReLU(), new Linear(84, numClasses)]);
        return Build(root, "LeNet5", channels, height, width, seed, classNames);
    }

    /// <summary>The seeds' VGG-style SimpleCNN: 3 × [conv3x3 + BN + ReLU + maxpool2] with 64/128/256 channels, FC 512, dropout 0.5, FC classes.</summary>
    public static Network SimpleCnn(int channels = 3, int height = 32, int width = 32, int numClasses = 10, int[]? widths = null, int hidden = 512, double dropout = 0.5, int seed = 0, IReadOnlyList<string>? classNames = null)
    {
        CheckInput(channels, height, width, numClasses, 8);
        widths ??= [64, 128, 256];
        var layers = new List<Layer>();
        int c = channels;
        foreach (int w in widths)
        {
            layers.AddRange([new Conv2d(c, w, 3, padding: 1), new BatchNorm2d(w), new ReLU(), new MaxPool2d(2)]);
            c = w;
        }
        layers.Add(new Flatten());
        int flat = new Sequential(layers).OutputShape([1, channels, height, width])[1];
        layers.AddRange([new Linear(flat, hidden), new ReLU(), new Dropout(dropout), new Linear(hidden, numClasses)]);
        return Build(new Sequential(layers), "SimpleCNN", channels, height, width, seed, classNames);
    }

    /// <summary>
    /// A small CIFAR-style ResNet (He et al. 2016): conv3x3 stem, three stages of basic blocks
    /// (16/32/64 channels × widthFactor, stride 2 between stages), global average pooling, FC.
    /// blocksPerStage 1 gives ResNet-8, 3 gives ResNet-20. Blocks that change shape use a 1x1-conv + BN projection shortcut.
    /// </summary>
    public static Network ResNet(int channels = 3, int height = 32, int width = 32, int numClasses = 10, int blocksPerStage = 1, int baseWidth = 16, int seed = 0, IReadOnlyList<string>? classNames = null)
    {
        CheckInput(channels, height, width, numClasses, 8);
        if (blocksPerStage < 1) throw new ArgumentOutOfRangeException(nameof(blocksPerStage), blocksPerStage, "blocksPerStage must be >= 1.");
        var layers = new List<Layer> { new Conv2d(channels, baseWidth, 3, padding: 1, bias: false), new BatchNorm2d(baseWidth), new ReLU() };
        int c = baseWidth;
        for (int stage = 0; stage < 3; stage++)
        {
            int w = baseWidth << stage;
            for (int b = 0; b < blocksPerStage; b++)
            {
                int stride = stage > 0 && b == 0 ? 2 : 1;
                layers.Add(BasicBlock(c, w, stride));
                layers.Add(new ReLU());
                c = w;
            }
        }
        layers.AddRange([new GlobalAvgPool2d(), new Flatten(), new Linear(c, numClasses)]);
        return Build(new Sequential(layers), blocksPerStage == 1 ? "ResNet8" : $"ResNet{6 * blocksPerStage + 2}", channels, height, width, seed, classNames);
    }

    /// <summary>Basic residual block: conv3x3(stride) → BN → ReLU → conv3x3 → BN, plus identity or 1x1 projection (+BN).</summary>
    public static Residual BasicBlock(int inChannels, int outChannels, int stride)
    {
        var body = new Sequential(
            new Conv2d(inChannels, outChannels, 3, stride, 1, bias: false), new BatchNorm2d(outChannels), new ReLU(),
            new Conv2d(outChannels, outChannels, 3, 1, 1, bias: false), new BatchNorm2d(outChannels));
        Layer? shortcut = stride != 1 || inChannels != outChannels
            ? new Sequential(new Conv2d(inChannels, outChannels, 1, stride, bias: false), new BatchNorm2d(outChannels))
            : null;
        return new Residual(body, shortcut);
    }

    /// <summary>
    /// MobileNetV2 inverted residual (Sandler et al. 2018): 1x1 expand (×t) → BN → ReLU → 3x3 depthwise (stride) → BN → ReLU →
    /// 1x1 project → BN (linear bottleneck); the skip connection is used when stride is 1 and channels match.
    /// </summary>
    public static Layer InvertedResidual(int inChannels, int outChannels, int stride, int expansion)
    {
        int hidden = inChannels * expansion;
        var layers = new List<Layer>();
        if (expansion != 1) layers.AddRange([new Conv2d(inChannels, hidden, 1, bias: false), new BatchNorm2d(hidden), new ReLU()]);
        layers.AddRange([
            new Conv2d(hidden, hidden, 3, stride, 1, groups: hidden, bias: false), new BatchNorm2d(hidden), new ReLU(),
            new Conv2d(hidden, outChannels, 1, bias: false), new BatchNorm2d(outChannels)]);
        var body = new Sequential(layers);
        return stride == 1 && inChannels == outChannels ? new Residual(body) : body;
    }

    /// <summary>
    /// A MobileNetV2-style net for small images: conv3x3 stem (16), inverted residual stages
    /// (t, c, n, s) = (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 2, 2), (6, 64, 1, 2), a 1x1 conv to 128, global pooling, FC.
    /// </summary>
    public static Network MobileNetV2(int channels = 3, int height = 32, int width = 32, int numClasses = 10, int expansion = 6, int seed = 0, IReadOnlyList<string>? classNames = null)
    {
        CheckInput(channels, height, width, numClasses, 8);
        var layers = new List<Layer> { new Conv2d(channels, 16, 3, padding: 1, bias: false), new BatchNorm2d(16), new ReLU() };
        int c = 16;
        foreach (var (t, w, n, s) in new[] { (1, 16, 1, 1), (expansion, 24, 2, 2), (expansion, 32, 2, 2), (expansion, 64, 1, 2) })
            for (int i = 0; i < n; i++)
            {
                layers.Add(InvertedResidual(c, w, i == 0 ? s : 1, t));
                c = w;
            }
        layers.AddRange([new Conv2d(c, 128, 1, bias: false), new BatchNorm2d(128), new ReLU(), new GlobalAvgPool2d(), new Flatten(), new Linear(128, numClasses)]);
        return Build(new Sequential(layers), "MobileNetV2", channels, height, width, seed, classNames);
    }
}
