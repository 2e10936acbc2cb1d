using MLConv.Training.Layers;

namespace MLConv.Export.Tests.Onnx;

public sealed partial class LayerRegistryTests
{
    /// <summary>Graph-level layers: element-wise operators of two activations with broadcasting.</summary>
    private static readonly Dictionary<Type, (Func<Layer> Build, int[] Chw)> GraphSamples = new()
    {
        [typeof(Elementwise)] = (SqueezeExcitation, [3, 4, 5]),
    };

    /// <summary>y = (x · pool(x) − pool(x)) + pool(x)·… : Mul and Sub broadcast [N, C, 1, 1] over [N, C, H, W]; Add of two shapes; Div by a positive value.</summary>
    private static Layer SqueezeExcitation() => new Graph("x",
    [
        new GraphNode("pool", new GlobalAvgPool2d(), ["x"], "s"),
        new GraphNode("scale", new Elementwise(ElementwiseOp.Mul), ["x", "s"], "xs"),
        new GraphNode("shift", new Elementwise(ElementwiseOp.Sub), ["xs", "s"], "d"),
        new GraphNode("add", new Elementwise(ElementwiseOp.Add), ["s", "d"], "e"),
        new GraphNode("square", new Elementwise(ElementwiseOp.Mul), ["s", "s"], "s2"),
        new GraphNode("relu", new ReLU(), ["e"], "r"),
        new GraphNode("pos", new Elementwise(ElementwiseOp.Add), ["r", "s2"], "p"),
        new GraphNode("ratio", new Elementwise(ElementwiseOp.Div), ["e", "p"], "y"),
    ], "y");
}
