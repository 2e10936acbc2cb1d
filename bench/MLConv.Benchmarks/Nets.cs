using MLConv.Training.Layers;
using MLConv.Training.Models;
using TorchSharp;
using static TorchSharp.torch;
using TorchTensor = TorchSharp.torch.Tensor;

namespace MLConv.Benchmarks;

/// <summary>
/// ImageNet-size networks built the same way in MLConv and in libtorch (TorchSharp has no torchvision here):
/// ResNet-18 and MobileNetV2 (torchvision's layout; ReLU in place of ReLU6, no dropout), parameters in the same order.
/// </summary>
public static class Nets
{
    private static readonly (int Width, int Blocks)[] ResNet18Stages = [(64, 2), (128, 2), (256, 2), (512, 2)];
    private static readonly (int T, int C, int N, int S)[] MobileNetV2Config =
        [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)];

    public static Network ResNet18(int size = 224, int classes = 1000)
    {
        var layers = new List<Layer> { new Conv2d(3, 64, 7, 2, 3, bias: false), new BatchNorm2d(64), new ReLU(), new MaxPool2d(3, 2, 1) };
        int c = 64;
        for (int s = 0; s < ResNet18Stages.Length; s++)
            for (int b = 0; b < ResNet18Stages[s].Blocks; b++)
            {
                int w = ResNet18Stages[s].Width;
                layers.Add(Architectures.BasicBlock(c, w, s > 0 && b == 0 ? 2 : 1));
                layers.Add(new ReLU());
                c = w;
            }
        layers.AddRange([new GlobalAvgPool2d(), new Flatten(), new Linear(c, classes)]);
        return new Network(new Sequential(layers), 3, size, size) { Architecture = "ResNet18" };
    }

    public static nn.Module<TorchTensor, TorchTensor> TorchResNet18(int classes = 1000)
    {
        var m = new List<(string, nn.Module<TorchTensor, TorchTensor>)>
        {
            ("conv1", nn.Conv2d(3, 64, 7, stride: 2, padding: 3, bias: false)), ("bn1", nn.BatchNorm2d(64)), ("relu", nn.ReLU()),
            ("pool", nn.MaxPool2d(3, 2, 1)),
        };
        int c = 64, i = 0;
        for (int s = 0; s < ResNet18Stages.Length; s++)
            for (int b = 0; b < ResNet18Stages[s].Blocks; b++, i++)
            {
                int w = ResNet18Stages[s].Width, stride = s > 0 && b == 0 ? 2 : 1;
                var body = nn.Sequential(
                    nn.Conv2d(c, w, 3, stride: stride, padding: 1, bias: false), nn.BatchNorm2d(w), nn.ReLU(),
                    nn.Conv2d(w, w, 3, stride: 1, padding: 1, bias: false), nn.BatchNorm2d(w));
                nn.Module<TorchTensor, TorchTensor> shortcut = stride != 1 || c != w
                    ? nn.Sequential(nn.Conv2d(c, w, 1, stride: stride, bias: false), nn.BatchNorm2d(w))
                    : nn.Identity();
                m.Add(($"block{i}", new TorchResidual($"block{i}", body, shortcut)));
                m.Add(($"relu{i}", nn.ReLU()));
                c = w;
            }
        m.AddRange([("gap", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()), ("fc", nn.Linear(c, classes))]);
        return nn.Sequential(m);
    }

    public static Network MobileNetV2(int size = 224, int classes = 1000)
    {
        var layers = new List<Layer> { new Conv2d(3, 32, 3, 2, 1, bias: false), new BatchNorm2d(32), new ReLU() };
        int c = 32;
        foreach (var (t, w, n, s) in MobileNetV2Config)
            for (int i = 0; i < n; i++)
            {
                layers.Add(Architectures.InvertedResidual(c, w, i == 0 ? s : 1, t));
                c = w;
            }
        layers.AddRange([new Conv2d(c, 1280, 1, bias: false), new BatchNorm2d(1280), new ReLU(), new GlobalAvgPool2d(), new Flatten(), new Linear(1280, classes)]);
        return new Network(new Sequential(layers), 3, size, size) { Architecture = "MobileNetV2" };
    }

    public static nn.Module<TorchTensor, TorchTensor> TorchMobileNetV2(int classes = 1000)
    {
        var m = new List<(string, nn.Module<TorchTensor, TorchTensor>)>
        {
            ("conv1", nn.Conv2d(3, 32, 3, stride: 2, padding: 1, bias: false)), ("bn1", nn.BatchNorm2d(32)), ("relu", nn.ReLU()),
        };
        int c = 32, k = 0;
        foreach (var (t, w, n, s) in MobileNetV2Config)
            for (int i = 0; i < n; i++, k++)
            {
                int stride = i == 0 ? s : 1, hidden = c * t;
                var parts = new List<nn.Module<TorchTensor, TorchTensor>>();
                if (t != 1) parts.AddRange([nn.Conv2d(c, hidden, 1, bias: false), nn.BatchNorm2d(hidden), nn.ReLU()]);
                parts.AddRange([
                    nn.Conv2d(hidden, hidden, 3, stride: stride, padding: 1, groups: hidden, bias: false), nn.BatchNorm2d(hidden), nn.ReLU(),
                    nn.Conv2d(hidden, w, 1, bias: false), nn.BatchNorm2d(w)]);
                var body = nn.Sequential(parts.ToArray());
                m.Add(($"block{k}", stride == 1 && c == w ? new TorchResidual($"block{k}", body, nn.Identity()) : body));
                c = w;
            }
        m.AddRange([("conv2", nn.Conv2d(c, 1280, 1, bias: false)), ("bn2", nn.BatchNorm2d(1280)), ("relu2", nn.ReLU()),
            ("gap", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()), ("fc", nn.Linear(1280, classes))]);
        return nn.Sequential(m);
    }

    /// <summary>body(x) + shortcut(x), as MLConv's <see cref="Residual"/>.</summary>
    private sealed class TorchResidual : nn.Module<TorchTensor, TorchTensor>
    {
        private readonly nn.Module<TorchTensor, TorchTensor> body;
        private readonly nn.Module<TorchTensor, TorchTensor> shortcut;

        public TorchResidual(string name, nn.Module<TorchTensor, TorchTensor> body, nn.Module<TorchTensor, TorchTensor> shortcut) : base(name)
        {
            this.body = body;
            this.shortcut = shortcut;
            RegisterComponents();
        }

        public override TorchTensor forward(TorchTensor x) => body.call(x).add_(shortcut.call(x));
    }
}
