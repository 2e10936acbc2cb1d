using System.Text.Json.Nodes;
using MLConv.Tests.Reference;
using MLConv.Training.Layers;
using MLConv.Training.Losses;
using MLConv.Training.Optimizers;
using MLConv.Training.Models;
using MLConv.Training.Tensors;

namespace MLConv.Tests.Layers;

/// <summary>Graph (DAG of layers) and the layers that join its branches, Concat and Sum.</summary>
[TestClass]
public sealed class GraphTests
{
    private static double[] ConvRef(double[] x, int n, int c, int h, int w, double[] wt, double[]? b, Conv2d conv)
    {
        var g = conv.Geometry;
        return Naive.Conv(x, n, c, h, w, wt, b, conv.OutChannels, new Naive.Geo(g.KernelH, g.KernelW, g.StrideH, g.StrideW, g.PadTop, g.PadLeft, g.PadBottom, g.PadRight, g.DilationH, g.DilationW), conv.Groups, out _, out _);
    }

    private static Dictionary<string, int> ParameterIndex(Layer layer) =>
        layer.NamedParameters().Select((p, i) => (p.Path, i)).ToDictionary(t => t.Path, t => t.i);

    /// <summary>
    /// x feeds four nodes (a, b, the Concat and d); cat feeds the Sum twice and the LRN: every value's gradient is a
    /// sum over its uses. Nodes are given out of order; the graph sorts them.
    ///   a = conv3x3(x), b = relu(x), cat = [a, b, x], d = conv1x1(x), s = cat + d + cat, l = lrn(cat), y = s + l
    /// </summary>
    private static Graph Branching(out Conv2d a, out Conv2d d, out LocalResponseNorm lrn)
    {
        a = new Conv2d(2, 3, 3, padding: 1);
        d = new Conv2d(2, 7, 1);
        lrn = new LocalResponseNorm(3, alpha: 1, beta: 0.75, k: 2);
        return new Graph("x",
        [
            new GraphNode("y", new Sum(), ["s", "l"], "y"),
            new GraphNode("s", new Sum(), ["cat", "d", "cat"], "s"),
            new GraphNode("cat", new Concat(), ["a", "b", "x"], "cat"),
            new GraphNode("a", a, ["x"], "a"),
            new GraphNode("b", new ReLU(), ["x"], "b"),
            new GraphNode("d", d, ["x"], "d"),
            new GraphNode("l", lrn, ["cat"], "l"),
        ], "y");
    }

    [TestMethod]
    public void BranchingGraphGradients()
    {
        var graph = Branching(out var a, out var d, out _);
        Assert.AreEqual("a, b, cat, d, s, l, y", string.Join(", ", graph.Nodes.Select(n => n.Name)), "topological order, earliest given first");
        var at = ParameterIndex(graph);
        const int n = 3, h = 5, w = 6;
        GradCheck.Run(graph, [n, 2, h, w], (x, p) =>
        {
            var av = ConvRef(x, n, 2, h, w, p[at["a.weight"]], p[at["a.bias"]], a);
            var bv = Naive.Relu(x);
            var cat = Naive.Concat([av, bv, x], [[n, 3, h, w], [n, 2, h, w], [n, 2, h, w]], 1);
            var dv = ConvRef(x, n, 2, h, w, p[at["d.weight"]], p[at["d.bias"]], d);
            var s = Naive.Sum(cat, dv, cat);
            var l = Naive.Lrn(cat, n, 7, h * w, 3, 1, 0.75, 2);
            return Naive.Sum(s, l);
        }, seed: 21);
    }

    [TestMethod]
    [DataRow(1)]
    [DataRow(2)]
    [DataRow(3)]
    public void ConcatGradientsAlongEachAxis(int axis)
    {
        // Both inputs [3, 2, 4, 5] except along the axis: conv gives 3 channels (axis 1) or the same shape as x.
        var conv = axis == 1 ? new Conv2d(2, 3, 3, padding: 1) : new Conv2d(2, 2, (3, 2), padding: Padding.Explicit(1, 0, 1, 1));
        var graph = new Graph("x", [new GraphNode("conv", conv, ["x"], "c"), new GraphNode("cat", new Concat(axis), ["c", "x"], "y")], "y");
        int[] xs = [3, 2, 4, 5];
        int[] cs = conv.OutputShape(xs);
        GradCheck.Run(graph, xs, (x, p) => Naive.Concat([ConvRef(x, 3, 2, 4, 5, p[0], p[1], conv), x], [cs, xs], axis), seed: 22 + axis);
    }

    [TestMethod]
    public void SumGradientsWithARepeatedInput()
    {
        var conv = new Conv2d(3, 3, (1, 3), padding: Padding.Explicit(0, 1, 0, 1));
        var graph = new Graph("x", [new GraphNode("conv", conv, ["x"], "c"), new GraphNode("sum", new Sum(), ["c", "x", "c"], "y")], "y");
        GradCheck.Run(graph, [2, 3, 3, 7], (x, p) =>
        {
            var c = ConvRef(x, 2, 3, 3, 7, p[0], p[1], conv);
            return Naive.Sum(c, x, c);
        }, seed: 25);
    }

    [TestMethod]
    public void ConcatSlicesDyBackExactly()
    {
        var concat = new Concat();
        var a = GradCheck.Random([2, 1, 2, 3], new Random(1));
        var b = GradCheck.Random([2, 3, 2, 3], new Random(2));
        var y = concat.Forward([a, b], false);
        CollectionAssert.AreEqual(new[] { 2, 4, 2, 3 }, y.ShapeArray);
        var dy = GradCheck.Random([2, 4, 2, 3], new Random(3));
        var dx = concat.BackwardMany(dy);
        for (int s = 0; s < 2; s++)
        {
            CollectionAssert.AreEqual(dy.Span.Slice(s * 24, 6).ToArray(), dx[0].Span.Slice(s * 6, 6).ToArray());
            CollectionAssert.AreEqual(dy.Span.Slice(s * 24 + 6, 18).ToArray(), dx[1].Span.Slice(s * 18, 18).ToArray());
            CollectionAssert.AreEqual(a.Span.Slice(s * 6, 6).ToArray(), y.Span.Slice(s * 24, 6).ToArray());
        }
    }

    [TestMethod]
    public void BuffersAreReusedAcrossBatchesWithoutChangingResults()
    {
        var graph = Branching(out _, out _, out _);
        Fixtures(graph);
        var x3 = GradCheck.Random([3, 2, 5, 6], new Random(4));
        var x2 = GradCheck.Random([2, 2, 5, 6], new Random(5));
        var dy3 = GradCheck.Random([3, 7, 5, 6], new Random(6));
        var dy2 = GradCheck.Random([2, 7, 5, 6], new Random(7));
        var y1 = graph.Forward(x3, true).Span.ToArray();
        var dx1 = graph.Backward(dy3).Span.ToArray();
        var y1Buffer = graph.Forward(x3, true);
        graph.Forward(x2, true);
        graph.Backward(dy2);
        var y2 = graph.Forward(x3, true);
        var dx2 = graph.Backward(dy3).Span.ToArray();
        Assert.AreSame(y1Buffer.Data, y2.Data, "the output storage is reused across batch sizes");
        CollectionAssert.AreEqual(y1, y2.Span.ToArray());
        CollectionAssert.AreEqual(dx1, dx2);
    }

    private static void Fixtures(Layer layer)
    {
        var rng = new Random(9);
        foreach (var p in layer.AllParameters())
            for (int i = 0; i < p.Value.Length; i++) p.Value[i] = (float)(rng.NextDouble() - 0.5);
    }

    [TestMethod]
    public void WithoutAnInputGradientParametersStillLearn()
    {
        var a = Branching(out var convA, out _, out _);
        var b = Branching(out var convB, out _, out _);
        Fixtures(a);
        Fixtures(b);
        var x = GradCheck.Random([2, 2, 5, 6], new Random(4));
        var dy = GradCheck.Random([2, 7, 5, 6], new Random(6));
        b.ComputeInputGradient = false;
        a.Forward(x, true);
        a.Backward(dy);
        b.Forward(x, true);
        var dx = b.Backward(dy);
        CollectionAssert.AreEqual(convA.Weight.Grad.Span.ToArray(), convB.Weight.Grad.Span.ToArray());
        Assert.IsTrue(dx.Span.ToArray().All(v => v == 0f), "dx is not computed: zeros stand in");
    }

    [TestMethod]
    public void InvalidGraphsAreRefusedWithTheReason()
    {
        ArgumentException Refused(Func<Graph> build) => Assert.Throws<ArgumentException>(() => build());
        StringAssert.Contains(Refused(() => new Graph("x", [new GraphNode("a", new ReLU(), ["b"], "a"), new GraphNode("b", new ReLU(), ["a"], "b"),
            new GraphNode("c", new Sum(), ["x", "b"], "c")], "c")).Message, "cycle");
        StringAssert.Contains(Refused(() => new Graph("x", [new GraphNode("a", new ReLU(), ["z"], "a")], "a")).Message, "reads value 'z'");
        StringAssert.Contains(Refused(() => new Graph("x", [new GraphNode("a", new ReLU(), ["x"], "v"), new GraphNode("b", new ReLU(), ["x"], "v")], "v")).Message, "written by both");
        StringAssert.Contains(Refused(() => new Graph("x", [new GraphNode("a", new ReLU(), ["x"], "a"), new GraphNode("b", new ReLU(), ["x"], "b")], "b")).Message, "neither read");
        StringAssert.Contains(Refused(() => new Graph("x", [new GraphNode("a", new ReLU(), ["x"], "a"), new GraphNode("a", new ReLU(), ["a"], "b")], "b")).Message, "Two nodes");
        var shared = new ReLU();
        StringAssert.Contains(Refused(() => new Graph("x", [new GraphNode("a", shared, ["x"], "a"), new GraphNode("b", shared, ["a"], "b")], "b")).Message, "reuses a layer");
        StringAssert.Contains(Refused(() => new Graph("x", [new GraphNode("a", new ReLU(), ["x"], "a")], "q")).Message, "graph output 'q'");
        StringAssert.Contains(Assert.Throws<ArgumentException>(() => new GraphNode("a.b", new ReLU(), ["x"], "y")).Message, "'.'");
        StringAssert.Contains(Assert.Throws<ArgumentException>(() => new GraphNode("a", new ReLU(), ["x", "y"], "z")).Message, "takes one input");

        var bad = new Graph("x", [new GraphNode("c", new Conv2d(3, 4, 3), ["x"], "c"), new GraphNode("s", new Sum(), ["c", "x"], "y")], "y");
        var e = Assert.Throws<ArgumentException>(() => bad.OutputShape([1, 3, 8, 8]));
        StringAssert.Contains(e.Message, "node 's'");
        StringAssert.Contains(e.Message, "one shape");
    }

    [TestMethod]
    public void JoinLayersRefuseASingleInputCall()
    {
        var x = new Tensor(1, 2, 3, 3);
        StringAssert.Contains(Assert.Throws<InvalidOperationException>(() => new Concat().Forward(x, false)).Message, "Graph");
        StringAssert.Contains(Assert.Throws<InvalidOperationException>(() => new Sum().Backward(x)).Message, "BackwardMany");
        var e = Assert.Throws<ArgumentException>(() => new Sequential(new ReLU(), new Concat()).OutputShape([1, 2, 3, 3]));
        StringAssert.Contains(e.Message, "Layer 1");
        Assert.Throws<ArgumentOutOfRangeException>(() => new Concat(0));
    }

    private static Network SmallNetwork()
    {
        var inner = new Graph("x",
        [
            new GraphNode("squeeze", new Conv2d(3, 2, 1), ["x"], "s"),
            new GraphNode("squeeze_relu", new ReLU(), ["s"], "sr"),
            new GraphNode("expand1", new Conv2d(2, 3, 1), ["sr"], "e1"),
            new GraphNode("expand3", new Conv2d(2, 3, 3, padding: 1), ["sr"], "e3"),
            new GraphNode("bn", new BatchNorm2d(3), ["e3"], "b"),
            new GraphNode("cat", new Concat(), ["e1", "b"], "cat"),
            new GraphNode("lrn", new LocalResponseNorm(5), ["cat"], "l"),
            new GraphNode("shuffle_split", new Reshape(2, 3, 7, -1), ["l"], "r"),
            new GraphNode("shuffle", new Transpose(0, 2, 1, 3, 4), ["r"], "t"),
            new GraphNode("shuffle_join", new Reshape(-1, 7, 6), ["t"], "j"),
            new GraphNode("residual", new Sum(), ["j", "cat"], "y"),
        ], "y");
        var net = new Network(new Sequential(inner, new GlobalAvgPool2d(), new Flatten(), new Linear(6, 4)), 3, 7, 6);
        Fixtures(net.Root);
        foreach (var bn in net.Root.Descendants().OfType<BatchNorm2d>()) { bn.RunningMean.Fill(0.2f); bn.RunningVar.Fill(1.7f); }
        return net;
    }

    [TestMethod]
    public void SpecAndModelFileRoundTripAGraph()
    {
        var net = SmallNetwork();
        var spec = net.Root.ToSpec();
        var again = LayerFactory.FromSpec(JsonNode.Parse(spec.ToJsonString())!.AsObject());
        Assert.AreEqual(spec.ToJsonString(), again.ToSpec().ToJsonString());

        string path = Path.Combine(Path.GetTempPath(), "mlconv-tests", Guid.NewGuid().ToString("N") + ".mlconv");
        ModelFile.Save(net, path);
        var loaded = ModelFile.Load(path);
        File.Delete(path);
        CollectionAssert.AreEqual(net.Root.NamedParameters().Select(p => p.Path).ToArray(), loaded.Root.NamedParameters().Select(p => p.Path).ToArray());
        CollectionAssert.Contains(loaded.Root.NamedBuffers().Select(b => b.Path).ToArray(), "0.bn.running_var");
        var x = GradCheck.Random([2, 3, 7, 6], new Random(3));
        CollectionAssert.AreEqual(net.Forward(x, false).Span.ToArray(), loaded.Forward(x, false).Span.ToArray());
    }

    [TestMethod]
    public void SummaryListsGraphNodesWithReceptiveFields()
    {
        var net = SmallNetwork();
        var summary = net.Summary(2);
        var rows = summary.Rows.ToDictionary(r => r.Path);
        Assert.AreEqual("Graph(11 nodes)", rows["0"].Layer);
        CollectionAssert.AreEqual(new[] { 2, 6, 7, 6 }, rows["0.cat"].OutputShape);
        Assert.AreEqual((Size2)3, rows["0.cat"].ReceptiveField, "the concat takes the larger branch (1x1 then 3x3)");
        Assert.AreEqual(2L * 3 * 7 * 6 * 2, rows["0.expand1"].MultiplyAccumulates, "1x1 conv: 2 inputs per output");
        Assert.AreEqual(2L * 6 * 7 * 6, rows["0.residual"].MultiplyAccumulates);
        Assert.AreEqual(net.Root.MultiplyAccumulates([2, 3, 7, 6]), summary.TotalMultiplyAccumulates);
        Assert.AreEqual(net.ParameterCount, summary.TotalParameters);
    }

    /// <summary>Every node learns through the graph: the small fire/shuffle/residual network memorises 16 random images.</summary>
    [TestMethod]
    public void GraphNetworkOverfitsFixedBatch()
    {
        var net = SmallNetwork();
        net.Root.Reset(new Random(1));
        var x = GradCheck.Random([16, 3, 7, 6], new Random(12));
        int[] labels = [.. Enumerable.Range(0, 16).Select(i => i % 4)];
        var loss = new SoftmaxCrossEntropy();
        var opt = new Adam(net.Parameters, lr: 0.02);
        float first = 0, last = 0;
        for (int step = 0; step < 200; step++)
        {
            opt.ZeroGrad();
            last = loss.Forward(net.Forward(x, true), labels);
            if (step == 0) first = last;
            net.Backward(loss.Backward());
            opt.Step();
        }
        var logits = net.Forward(x, false);
        int correct = Enumerable.Range(0, 16).Count(i => Enumerable.Range(0, 4).MaxBy(k => logits[i, k]) == labels[i]);
        Assert.IsGreaterThanOrEqualTo(15, correct, $"train accuracy {correct}/16; loss {first} -> {last}");
        Assert.IsLessThan(0.1 * first, last, $"loss fell only from {first} to {last}");
    }

    [TestMethod]
    public void ForwardShapeErrorNamesTheNode()
    {
        var graph = new Graph("x", [new GraphNode("widen", new Conv2d(2, 3, 1), ["x"], "w"), new GraphNode("join", new Sum(), ["w", "x"], "y")], "y");
        var e = Assert.ThrowsExactly<ArgumentException>(() => graph.Forward(new Tensor(1, 2, 3, 3), false));
        StringAssert.Contains(e.Message, "'join'");
        Assert.AreEqual("x", e.ParamName);
    }
}
