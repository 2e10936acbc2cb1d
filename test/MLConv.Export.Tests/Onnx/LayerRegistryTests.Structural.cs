using MLConv.Training.Layers;

namespace MLConv.Export.Tests.Onnx;

public sealed partial class LayerRegistryTests
{
    /// <summary>Transposed convolution, padding, instance norm, per-channel affine, global max and mean, pixel shuffle.</summary>
    private static readonly Dictionary<Type, (Func<Layer> Build, int[] Chw)> StructuralSamples = new()
    {
        [typeof(ConvTranspose2d)] = (() => new ConvTranspose2d(4, 6, (3, 2), stride: (3, 2), padding: Padding.Explicit(1, 0, 2, 1),
            outputPadding: (2, 1), dilation: (1, 2), groups: 2), [4, 5, 4]),
        [typeof(Pad2d)] = (() => new Sequential(new Pad2d(Padding.Explicit(1, 2, 0, 3), PadMode.Constant, 1.5f),
            new Pad2d(Padding.Explicit(2, 1, 1, 0), PadMode.Reflect), new Pad2d(Padding.Explicit(0, 3, 2, 1), PadMode.Replicate)), [2, 4, 3]),
        [typeof(InstanceNorm2d)] = (() => new Sequential(new InstanceNorm2d(3, eps: 1e-3, affine: true), new InstanceNorm2d(3)), [3, 4, 5]),
        [typeof(ChannelAffine)] = (() => new Sequential(new ChannelAffine(3), new Flatten(), new ChannelAffine(60, rank: 2)), [3, 4, 5]),
        [typeof(GlobalMaxPool2d)] = (() => new GlobalMaxPool2d(), [5, 4, 3]),
        [typeof(SpatialMean)] = (() => new Sequential(new SpatialMean(), new SpatialMean(keepDims: false)), [5, 4, 3]),
        [typeof(PixelShuffle)] = (() => new PixelShuffle(2), [8, 3, 2]),
    };
}
