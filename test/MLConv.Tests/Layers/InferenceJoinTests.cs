using MLConv.Training.Kernels;
using MLConv.Training.Layers;
using MLConv.Training.Models;
using MLConv.Training.Tensors;

namespace MLConv.Tests.Layers;

/// <summary>
/// <see cref="InferencePlan"/> beyond the convolution groups: a residual join (<see cref="Sum"/> in a graph, <see cref="Residual"/>
/// in a chain) followed by its only reader, a ReLU, computes max(a + b, 0) in one pass; max pooling runs the values-only
/// kernel. Planned inference matches the layer-by-layer forward on ResNet-like graphs (identity and downsample shortcuts,
/// as the ONNX importer builds them) and SqueezeNet-like concat graphs of random non-square shapes; training-mode forwards
/// and backward are untouched; disposing the plan restores the layers.
/// </summary>
[TestClass]
public sealed class InferenceJoinTests
{
    private static Tensor Random(Random r, params int[] shape) => InferencePlanTests.Random(r, shape);

    private static BatchNorm2d Norm(Random r, int c)
    {
        var bn = new BatchNorm2d(c);
        InferencePlanTests.Randomize(bn, r);
        return bn;
    }

    private static void AssertClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, double relative, string what) =>
        InferencePlanTests.AssertClose(expected, actual, relative, what);

    /// <summary>A graph under construction: node i reads the named values and writes "v{i}"; the last value is the output.</summary>
    private sealed class Nodes
    {
        private readonly List<GraphNode> _nodes = [];

        public string Add(Layer layer, params string[] inputs)
        {
            string v = $"v{_nodes.Count}";
            _nodes.Add(new GraphNode($"n{_nodes.Count}", layer, inputs, v));
            return v;
        }

        public Graph Graph() => new("x", _nodes, $"v{_nodes.Count - 1}");
    }

    /// <summary>
    /// Stem conv → BN → ReLU → max pool, then basic blocks as the importer writes them: conv → BN → ReLU → conv → BN, a Sum
    /// with the shortcut (the block input, or 1x1 stride-2 conv → BN), then ReLU.
    /// </summary>
    private static Graph ResNetLike(int seed, int cin, int width, out int joins)
    {
        var r = new Random(seed);
        var nodes = new Nodes();
        string Add(Layer layer, params string[] inputs) => nodes.Add(layer, inputs);
        string h = Add(new Conv2d(cin, width, 5, 2, 2, bias: false, rng: r), "x");
        h = Add(new ReLU(), Add(Norm(r, width), h));
        h = Add(new MaxPool2d(3, 2, new Padding(1, 1, 0, 0)), h);
        int c = width;
        joins = 0;
        foreach (var (outC, stride) in new[] { (width, 1), (2 * width, 2), (2 * width, 1) })
        {
            string a = Add(new Conv2d(c, outC, 3, stride, 1, bias: false, rng: r), h);
            a = Add(new ReLU(), Add(Norm(r, outC), a));
            a = Add(Norm(r, outC), Add(new Conv2d(outC, outC, 3, 1, 1, bias: false, rng: r), a));
            string s = stride == 1 && c == outC ? h : Add(Norm(r, outC), Add(new Conv2d(c, outC, 1, stride, 0, bias: false, rng: r), h));
            h = Add(new ReLU(), Add(new Sum(), a, s));
            joins++;
            c = outC;
        }
        Add(new GlobalAvgPool2d(), h);
        return nodes.Graph();
    }

    [TestMethod]
    [DataRow(1, 3, 4, 29, 23, 1)]
    [DataRow(2, 2, 6, 20, 33, 2)]
    [DataRow(3, 1, 8, 17, 16, 3)]
    public void ResNetGraphPlannedMatchesLayerByLayer(int seed, int n, int width, int h, int w, int threads)
    {
        int saved = Parallelism.MaxThreads;
        try
        {
            Parallelism.MaxThreads = threads;
            var graph = ResNetLike(seed, 3, width, out int joins);
            var x = Random(new Random(seed + 100), n, 3, h, w);
            var plain = graph.Forward(x, training: false).Clone();
            using (var plan = InferencePlan.Prepare(graph))
            {
                Assert.AreEqual(joins, plan.FusedAddReLUs, "every Sum → ReLU fuses");
                AssertClose(plain.Span, graph.Forward(x, training: false).Span, 1e-5, "planned vs layer by layer");
                AssertClose(plain.Span, graph.Forward(x, training: false).Span, 1e-5, "a second planned forward (buffers reused)");
            }
            CollectionAssert.AreEqual(plain.Span.ToArray(), graph.Forward(x, training: false).Span.ToArray(), "after Dispose: the layers as before");
        }
        finally { Parallelism.MaxThreads = saved; }
    }

    /// <summary>A Sum whose value is read by more than a ReLU, or is a graph output, keeps its ReLU a layer of its own.</summary>
    [TestMethod]
    public void SumReadTwiceIsNotFused()
    {
        var r = new Random(7);
        var graph = new Graph("x",
        [
            new GraphNode("c", new Conv2d(3, 3, 3, 1, 1, rng: r), ["x"], "a"),
            new GraphNode("sum", new Sum(), ["a", "x"], "s"),
            new GraphNode("relu", new ReLU(), ["s"], "t"),
            new GraphNode("sum2", new Sum(), ["s", "t"], "u"),
            new GraphNode("relu2", new ReLU(), ["u"], "y"),
        ], ["y", "u"]);
        var x = Random(r, 2, 3, 6, 5);
        var plain = graph.ForwardAll(x, false).Select(t => t.Clone()).ToArray();
        using var plan = InferencePlan.Prepare(graph);
        Assert.AreEqual(0, plan.FusedAddReLUs);
        var planned = graph.ForwardAll(x, false);
        for (int k = 0; k < 2; k++) AssertClose(plain[k].Span, planned[k].Span, 1e-5, $"output {k}");
    }

    /// <summary>MLConv's own ResNet (a chain of Residual → ReLU): planned inference matches, training forward and backward are exactly a never-planned network's.</summary>
    [TestMethod]
    public void ResidualThenReLUInAChain()
    {
        Network planned = Architectures.ResNet(3, 14, 11, 5, seed: 4), plain = Architectures.ResNet(3, 14, 11, 5, seed: 4);
        var x = Random(new Random(3), 3, 3, 14, 11);
        var before = plain.Forward(x, training: false).Clone();
        using var plan = planned.PrepareForInference();
        Assert.AreEqual(3, plan.FusedAddReLUs, "one Residual → ReLU per stage");
        AssertClose(before.Span, planned.Forward(x, training: false).Span, 1e-5, "planned logits");
        foreach (var net in new[] { planned, plain })
        {
            foreach (var p in net.Parameters) p.Grad.Clear();
            var y = net.Forward(x, training: true);
            net.Backward(Tensor.FromArray([.. Enumerable.Range(0, y.Length).Select(i => (float)Math.Sin(i))], y.ShapeArray));
        }
        CollectionAssert.AreEqual(plain.Forward(x, training: true).Span.ToArray(), planned.Forward(x, training: true).Span.ToArray(), "training forward untouched");
        foreach (var (p, q) in plain.Parameters.Zip(planned.Parameters))
            CollectionAssert.AreEqual(p.Grad.Span.ToArray(), q.Grad.Span.ToArray(), "backward untouched: parameter gradients");
    }

    /// <summary>Concat's copies spread over the threads (large inputs): the naive concatenation, for 1 and 3 threads, along channels and rows.</summary>
    [TestMethod]
    [DataRow(1)]
    [DataRow(2)]
    public void ConcatOfLargeInputsMatchesNaive(int axis)
    {
        var r = new Random(axis);
        int[][] shapes = axis == 1 ? [[3, 5, 45, 41], [3, 2, 45, 41], [3, 7, 45, 41]] : [[2, 4, 33, 97], [2, 4, 11, 97], [2, 4, 50, 97]];
        var xs = shapes.Select(sh => Random(r, sh)).ToArray();
        var expected = Reference.Naive.Concat([.. xs.Select(t => t.Span.ToArray().Select(v => (double)v).ToArray())], shapes, axis);
        int saved = Parallelism.MaxThreads;
        try
        {
            foreach (int t in new[] { 1, 3 })
            {
                Parallelism.MaxThreads = t;
                var y = new Concat(axis).Forward(xs, training: false);
                CollectionAssert.AreEqual(expected.Select(v => (float)v).ToArray(), y.Span.ToArray(), $"axis {axis}, {t} threads");
            }
        }
        finally { Parallelism.MaxThreads = saved; }
    }

    /// <summary>Fire modules: squeeze 1x1 → ReLU, expand 1x1 and 3x3 → ReLU, Concat; max pools between; a 1x1 classifier and global pooling.</summary>
    [TestMethod]
    [DataRow(1, 1, 27, 31)]
    [DataRow(2, 2, 24, 19)]
    public void SqueezeNetLikeGraph(int seed, int n, int h, int w)
    {
        var r = new Random(seed);
        var nodes = new Nodes();
        string Add(Layer layer, params string[] inputs) => nodes.Add(layer, inputs);
        string hv = Add(new ReLU(), Add(new Conv2d(3, 8, 3, 2, 0, rng: r), "x"));
        hv = Add(new MaxPool2d(3, 2, 0, ceilMode: true), hv);
        int c = 8;
        foreach (var (sq, ex, pool) in new[] { (4, 6, false), (4, 6, true), (6, 9, false) })
        {
            string s = Add(new ReLU(), Add(new Conv2d(c, sq, 1, rng: r), hv));
            string e1 = Add(new ReLU(), Add(new Conv2d(sq, ex, 1, rng: r), s));
            string e3 = Add(new ReLU(), Add(new Conv2d(sq, ex, 3, 1, 1, rng: r), s));
            hv = Add(new Concat(), e1, e3);
            c = 2 * ex;
            if (pool) hv = Add(new MaxPool2d(3, 2), hv);
        }
        hv = Add(new ReLU(), Add(new Conv2d(c, 5, 1, rng: r), hv));
        Add(new GlobalAvgPool2d(), hv);
        var graph = nodes.Graph();
        foreach (var conv in graph.Nodes.Select(nd => nd.Layer).OfType<Conv2d>())
            for (int i = 0; i < conv.OutChannels; i++) conv.Bias!.Value[i] = (float)(r.NextDouble() * 0.2);
        var x = Random(r, n, 3, h, w);
        var plain = graph.Forward(x, training: false).Clone();
        using var plan = InferencePlan.Prepare(graph);
        AssertClose(plain.Span, graph.Forward(x, training: false).Span, 1e-5, "planned vs layer by layer");
    }
}
