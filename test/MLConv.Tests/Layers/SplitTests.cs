using MLConv.Tests.Reference;
using MLConv.Training.Layers;
using MLConv.Training.Models;
using MLConv.Training.Tensors;

namespace MLConv.Tests.Layers;

/// <summary><see cref="Split"/> (a node of several outputs) and graphs of several outputs, against naive double references.</summary>
[TestClass]
public sealed class SplitTests
{
    /// <summary>The channels [from, from + count) of an [n, c, plane] tensor.</summary>
    private static double[] Channels(double[] x, int n, int c, int plane, int from, int count)
    {
        var y = new double[n * count * plane];
        for (int i = 0; i < n; i++) Array.Copy(x, (i * c + from) * plane, y, i * count * plane, count * plane);
        return y;
    }

    private static double[] Affine(double[] x, int n, int c, int plane, double[] a, double[] b) =>
        [.. x.Select((v, i) => v * a[i / plane % c] + b[i / plane % c])];

    private static double[] Sigmoid(double[] x) => [.. x.Select(v => 1 / (1 + Math.Exp(-v)))];

    /// <summary>y = [x₀ · σ(affine(x₂)), x₁] for x split into 2, 1 and 2 channels: GLU with a gate that trains.</summary>
    [TestMethod]
    public void GatedSplitGradients()
    {
        var affine = new ChannelAffine(2);
        var graph = new Graph("x",
        [
            new GraphNode("split", new Split(1, 2, 1, 2), ["x"], ["a", "b", "c"]),
            new GraphNode("affine", affine, ["c"], "ca"),
            new GraphNode("gate", new Sigmoid(), ["ca"], "g"),
            new GraphNode("mul", new Elementwise(ElementwiseOp.Mul), ["a", "g"], "m"),
            new GraphNode("cat", new Concat(), ["m", "b"], "y"),
        ], "y");
        const int n = 3, c = 5, plane = 4 * 5;
        GradCheck.Run(graph, [n, c, 4, 5], (x, p) =>
        {
            var g = Sigmoid(Affine(Channels(x, n, c, plane, 3, 2), n, 2, plane, p[0], p[1]));
            var m = Channels(x, n, c, plane, 0, 2).Select((v, i) => v * g[i]).ToArray();
            return Naive.Concat([m, Channels(x, n, c, plane, 2, 1)], [[n, 2, 4, 5], [n, 1, 4, 5]], 1);
        }, seed: 41);
    }

    /// <summary>An output of the split that nothing reads gets a zero gradient (the channels it holds do not reach the loss).</summary>
    [TestMethod]
    public void AnUnreadPartGetsNoGradient()
    {
        var graph = new Graph("x", [new GraphNode("split", new Split(1, 2, 3), ["x"], ["a", "unused"]), new GraphNode("s", new Sigmoid(), ["a"], "y")], "y");
        const int n = 2, c = 5, plane = 3 * 2;
        GradCheck.Run(graph, [n, c, 3, 2], (x, _) => Sigmoid(Channels(x, n, c, plane, 0, 2)), seed: 42);
        var dx = graph.Backward(GradCheck.Random([n, 2, 3, 2], new Random(1)));
        for (int i = 0; i < n; i++)
            Assert.IsTrue(dx.Span.Slice((i * c + 2) * plane, 3 * plane).ToArray().All(v => v == 0f));
    }

    /// <summary>
    /// Outputs [y, a, s₀] where a and s₀ also feed other nodes: each output's gradient is added to its uses' gradients, and
    /// an output without one adds nothing.
    ///   s₀, s₁ = split(x, [1, 3]),  a = affine(s₁),  y = s₀ · σ(a)  (s₀ broadcast over a's 3 channels)
    /// </summary>
    [TestMethod]
    [DataRow(true, true, true)]
    [DataRow(true, false, true)]
    [DataRow(false, true, false)]
    [DataRow(true, false, false)]
    public void GraphWithSeveralOutputsGradients(bool dy, bool da, bool ds)
    {
        var graph = SeveralOutputs();
        const int n = 2, c = 4, plane = 3 * 5;
        GradCheck.RunAll(graph, [n, c, 3, 5], (x, p) =>
        {
            var s0 = Channels(x, n, c, plane, 0, 1);
            var a = Affine(Channels(x, n, c, plane, 1, 3), n, 3, plane, p[0], p[1]);
            var g = Sigmoid(a);
            var y = g.Select((v, i) => v * s0[i / (3 * plane) * plane + i % plane]).ToArray();
            return [y, a, s0];
        }, seed: 43, withGradient: [dy, da, ds]);
    }

    private static Graph SeveralOutputs() => new("x",
    [
        new GraphNode("split", new Split(1, 1, 3), ["x"], ["s0", "s1"]),
        new GraphNode("affine", new ChannelAffine(3), ["s1"], "a"),
        new GraphNode("gate", new Sigmoid(), ["a"], "g"),
        new GraphNode("mul", new Elementwise(ElementwiseOp.Mul), ["s0", "g"], "y"),
    ], ["y", "a", "s0"]);

    [TestMethod]
    public void ForwardAndBackwardAreTheFirstOutputs()
    {
        var graph = SeveralOutputs();
        Fixtures(graph);
        var x = GradCheck.Random([2, 4, 3, 5], new Random(2));
        var all = graph.ForwardAll(x, training: true).Select(t => t.Clone()).ToList();
        CollectionAssert.AreEqual(all[0].Span.ToArray(), graph.Forward(x, training: true).Span.ToArray());
        CollectionAssert.AreEqual(new[] { new[] { 2, 3, 3, 5 }, new[] { 2, 3, 3, 5 }, new[] { 2, 1, 3, 5 } }.Select(s => string.Join(",", s)).ToArray(),
            graph.OutputShapes([2, 4, 3, 5]).Select(s => string.Join(",", s)).ToArray());
        var dy = GradCheck.Random([2, 3, 3, 5], new Random(3));
        var one = graph.Backward(dy).Span.ToArray();
        var many = graph.BackwardAll([dy, null, null]).Span.ToArray();
        CollectionAssert.AreEqual(one, many);
        Assert.ThrowsExactly<ArgumentException>(() => graph.BackwardAll([dy, null]));
    }

    private static void Fixtures(Layer layer)
    {
        var rng = new Random(5);
        foreach (var p in layer.AllParameters())
            for (int i = 0; i < p.Value.Length; i++) p.Value[i] = (float)(rng.NextDouble() * 2 - 1);
    }

    [TestMethod]
    public void SpecsRoundTripAndCutsKeepTheOutputsNeeded()
    {
        var graph = SeveralOutputs();
        var spec = graph.ToSpec().ToJsonString();
        StringAssert.Contains(spec, "\"outputs\":[\"y\",\"a\",\"s0\"]");
        StringAssert.Contains(spec, "\"outputs\":[\"s0\",\"s1\"]");
        Assert.AreEqual(spec, LayerFactory.FromSpec(graph.ToSpec()).ToSpec().ToJsonString());
        var cut = graph.Until("a");
        Assert.AreEqual("split, affine", string.Join(", ", cut.Nodes.Select(n => n.Name)));
        CollectionAssert.AreEqual(new[] { 2, 3, 3, 5 }, cut.OutputShape([2, 4, 3, 5]));
        var summary = ModelSummary.Create(new Sequential(graph), [1, 4, 3, 5]).ToString();
        StringAssert.Contains(summary, "Split(dim=1, sizes=[1, 3])");
    }

    [TestMethod]
    public void MisuseIsRefusedWithAReason()
    {
        var split = new Split(1, 2, 2);
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => new GraphNode("s", split, ["x"], "y")).Message, "writes 2 value(s)");
        StringAssert.Contains(Assert.ThrowsExactly<InvalidOperationException>(() => split.Forward(new Tensor(1, 4, 2, 2), false)).Message, "Graph node");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => split.OutputShapes([1, 5, 2, 2])).Message, "needs 4");
        Assert.ThrowsExactly<ArgumentException>(() => new Split(1, 2, 0));
        Assert.ThrowsExactly<ArgumentException>(() => new Graph("x", [new GraphNode("r", new ReLU(), ["x"], "y")], ["y", "y"]));
        var e = Assert.ThrowsExactly<ArgumentException>(() => new Graph("x",
            [new GraphNode("s", new Split(1, 2, 2), ["x"], ["a", "b"])], ["x"]));
        StringAssert.Contains(e.Message, "neither read");
        Assert.ThrowsExactly<InvalidOperationException>(() => split.BackwardMany([null, null]));
    }

    [TestMethod]
    public void SplittingTheBatchOfAVector()
    {
        var split = new Split(0, 2, 1);
        var ys = split.ForwardMany(Tensor.FromArray([1f, 2f, 3f], 3), training: false);
        CollectionAssert.AreEqual(new[] { 1f, 2f }, ys[0].Span.ToArray());
        CollectionAssert.AreEqual(new[] { 3f }, ys[1].Span.ToArray());
        CollectionAssert.AreEqual(new[] { 0f, 0f, 7f }, split.BackwardMany([null, Tensor.FromArray([7f], 1)]).Span.ToArray());
    }
}
