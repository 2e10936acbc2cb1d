using MLConv.Training.Layers;
using MLConv.Training.Tensors;

namespace MLConv.Export.Tests.Onnx;

public sealed partial class LayerRegistryTests
{
    /// <summary>Graph-level layers: element-wise operators of two activations with broadcasting.</summary>
    private static readonly Dictionary<Type, (Func<Layer> Build, int[] Chw)> GraphSamples = new()
    {
        [typeof(Elementwise)] = (SqueezeExcitation, [3, 4, 5]),
        [typeof(Split)] = (GatedSplit, [5, 4, 3]),
        [typeof(TensorOperand)] = (() => new Sequential(new TensorOperand(ElementwiseOp.Mul, new Tensor(4, 1)),
            new TensorOperand(ElementwiseOp.Sub, new Tensor(2, 1, 3), valueFirst: true), new TensorOperand(ElementwiseOp.Add, new Tensor(3))), [2, 4, 3]),
    };

    /// <summary>GLU-like with three outputs: x split into 2, 1, 2 channels; y = x₀ · σ(x₂); outputs y, x₁ and σ(x₂).</summary>
    private static Layer GatedSplit() => new Graph("x",
    [
        new GraphNode("split", new Split(1, 2, 1, 2), ["x"], ["a", "b", "c"]),
        new GraphNode("gate", new Sigmoid(), ["c"], "g"),
        new GraphNode("mul", new Elementwise(ElementwiseOp.Mul), ["a", "g"], "y"),
    ], ["y", "b", "g"]);

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
