using MLConv.Tests.Reference;
using MLConv.Training.Kernels;
using MLConv.Training.Layers;
using MLConv.Training.Losses;
using MLConv.Training.Models;
using MLConv.Training.Optimizers;
using MLConv.Training.Tensors;

namespace MLConv.Tests.Layers;

/// <summary>
/// <see cref="InferencePlan"/>: batch norm folded into the convolution before it, ReLU fused into its output. The planned
/// inference forward matches a double-precision naive conv → batch norm → ReLU and the layer-by-layer forward within
/// 1e-5 of the output's scale, on random non-square shapes (grouped, depthwise, strided, with and without bias), in
/// chains and graphs; training is untouched; the plan finds only single-reader patterns.
/// </summary>
[TestClass]
public sealed class InferencePlanTests
{
    internal static Tensor Random(Random r, params int[] shape)
    {
        var t = new Tensor(shape);
        for (int i = 0; i < t.Length; i++) t[i] = (float)(r.NextDouble() * 2 - 1);
        return t;
    }

    /// <summary>Running statistics and affine parameters away from 0/1 (a fold with the initial values would be a no-op).</summary>
    internal static void Randomize(BatchNorm2d bn, Random r)
    {
        for (int c = 0; c < bn.NumFeatures; c++)
        {
            bn.Gamma.Value[c] = (float)(0.5 + r.NextDouble());
            bn.Beta.Value[c] = (float)(r.NextDouble() - 0.5);
            bn.RunningMean[c] = (float)(0.4 * (r.NextDouble() - 0.5));
            bn.RunningVar[c] = (float)(0.3 + r.NextDouble());
        }
    }

    private static Conv2d RandomConv(Random r, int cin, int cout, int k, int stride, int pad, int groups, bool bias)
    {
        var conv = new Conv2d(cin, cout, k, stride, pad, groups: groups, bias: bias, rng: r);
        if (bias) for (int i = 0; i < cout; i++) conv.Bias!.Value[i] = (float)(r.NextDouble() - 0.5);
        return conv;
    }

    internal static void AssertClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, double relative, string what)
    {
        Assert.AreEqual(expected.Length, actual.Length, what + ": length");
        double scale = 0;
        foreach (float v in expected) scale = Math.Max(scale, Math.Abs(v));
        Assert.IsGreaterThan(0.0, scale, what + ": all zero, the comparison would prove nothing");
        for (int i = 0; i < expected.Length; i++)
            Assert.IsLessThanOrEqualTo(relative * scale, Math.Abs((double)expected[i] - actual[i]), $"{what}: element {i} ({expected[i]} vs {actual[i]}, scale {scale})");
    }

    [TestMethod]
    [DataRow(2, 5, 7, 9, 11, 3, 1, 1, 1, true, true)]     // 3x3, non-square image, bias, ReLU
    [DataRow(3, 6, 8, 10, 7, 3, 2, 1, 2, false, true)]    // grouped, strided, no bias
    [DataRow(1, 12, 12, 13, 9, 3, 1, 1, 12, false, true)] // depthwise (the direct kernel), batch 1
    [DataRow(2, 8, 24, 6, 5, 3, 2, 1, 8, true, false)]    // depthwise with multiplier 3, stride 2, no ReLU after
    [DataRow(4, 7, 9, 5, 6, 1, 1, 0, 1, true, true)]      // 1x1 (the image is the column matrix)
    [DataRow(1, 16, 24, 40, 33, 3, 1, 1, 1, false, true)] // one large image: im2col and the ReLU spread over the threads
    public void PlannedForwardMatchesTheNaiveReferenceAndTheLayers(int n, int cin, int cout, int h, int w, int k, int stride, int pad, int groups, bool bias, bool relu)
    {
        var r = new Random(n * 31 + cin * 7 + cout + h);
        var conv = RandomConv(r, cin, cout, k, stride, pad, groups, bias);
        var bn = new BatchNorm2d(cout);
        Randomize(bn, r);
        var net = relu ? new Sequential(conv, bn, new ReLU()) : new Sequential(conv, bn);
        var x = Random(r, n, cin, h, w);

        var layers = net.Forward(x, training: false).Clone();
        using var plan = InferencePlan.Prepare(net);
        Assert.AreEqual(1, plan.FusedConvolutions);
        Assert.AreEqual(1, plan.FoldedBatchNorms);
        Assert.AreEqual(relu ? 1 : 0, plan.FusedReLUs);
        Assert.IsTrue(conv.IsInferenceFused);
        var planned = net.Forward(x, training: false);

        // Naive double reference: conv, then γ(y − μ)/√(σ² + ε) + β, then max(·, 0).
        var g = conv.Geometry;
        double[] D(Tensor t) => [.. t.Span.ToArray().Select(v => (double)v)];
        var yRef = Naive.Conv(D(x), n, cin, h, w, D(conv.Weight.Value), bias ? D(conv.Bias!.Value) : null, cout,
            new Naive.Geo(g.KernelH, g.KernelW, g.StrideH, g.StrideW, g.PadTop, g.PadLeft, g.PadBottom, g.PadRight, g.DilationH, g.DilationW), groups, out _, out _);
        int plane = yRef.Length / (n * cout);
        var expected = new float[yRef.Length];
        for (int i = 0; i < yRef.Length; i++)
        {
            int c = i / plane % cout;
            double v = bn.Gamma.Value[c] * (yRef[i] - bn.RunningMean[c]) / Math.Sqrt(bn.RunningVar[c] + bn.Eps) + bn.Beta.Value[c];
            expected[i] = (float)(relu ? Math.Max(v, 0) : v);
        }
        AssertClose(expected, planned.Span, 1e-5, "planned vs naive");
        AssertClose(layers.Span, planned.Span, 1e-5, "planned vs layer by layer");

        plan.Dispose();
        Assert.IsFalse(conv.IsInferenceFused);
        CollectionAssert.AreEqual(layers.Span.ToArray(), net.Forward(x, training: false).Span.ToArray(), "after Dispose the layers run one by one again");
    }

    /// <summary>A graph: c1 → bn1 → relu1 fuses; c2's output is read twice (bn2 and the sum), so bn2 is not folded; c3 → relu3 fuses.</summary>
    [TestMethod]
    public void GraphFusesOnlyValuesWithOneReader()
    {
        var r = new Random(5);
        var c1 = RandomConv(r, 3, 6, 3, 1, 1, 1, false);
        var c2 = RandomConv(r, 6, 6, 3, 1, 1, 1, true);
        var c3 = RandomConv(r, 6, 4, 1, 1, 0, 1, true);
        BatchNorm2d bn1 = new(6), bn2 = new(6);
        Randomize(bn1, r); Randomize(bn2, r);
        var graph = new Graph("x",
        [
            new GraphNode("c1", c1, ["x"], "a"),
            new GraphNode("bn1", bn1, ["a"], "b"),
            new GraphNode("relu1", new ReLU(), ["b"], "c"),
            new GraphNode("c2", c2, ["c"], "d"),
            new GraphNode("bn2", bn2, ["d"], "e"),
            new GraphNode("sum", new Sum(), ["d", "e"], "f"),
            new GraphNode("c3", c3, ["f"], "g"),
            new GraphNode("relu3", new ReLU(), ["g"], "y"),
        ], "y");
        var x = Random(r, 2, 3, 9, 7);
        var layers = graph.Forward(x, training: false).Clone();
        using var plan = InferencePlan.Prepare(graph);
        // c1 → bn1 → relu1 and c3 → relu3 fuse (relu3's output being the graph's output is fine); c2's output is read by
        // bn2 and by the sum, so bn2 stays a layer of its own and c2 only has its weights packed.
        Assert.AreEqual(3, plan.PreparedConvolutions);
        Assert.AreEqual(2, plan.FusedConvolutions);
        Assert.AreEqual(1, plan.FoldedBatchNorms);
        Assert.AreEqual(2, plan.FusedReLUs);
        Assert.IsTrue(c1.IsInferenceFused && c2.IsInferenceFused && c3.IsInferenceFused);
        AssertClose(layers.Span, graph.Forward(x, training: false).Span, 1e-5, "graph planned vs layer by layer");
    }

    /// <summary>A training-mode forward drops the fold (weights change next) and trains exactly as a network never planned.</summary>
    [TestMethod]
    public void TrainingIsUntouchedAndDropsTheFold()
    {
        Network Make() => Architectures.ResNet(3, 12, 10, 4, seed: 3);
        Network planned = Make(), plain = Make();
        var r = new Random(9);
        var x = Random(r, 4, 3, 12, 10);
        int[] labels = [0, 1, 2, 3];
        var before = planned.Forward(x, training: false).Clone();
        var plan = planned.PrepareForInference();
        Assert.IsGreaterThan(0, plan.FusedConvolutions);
        AssertClose(before.Span, planned.Forward(x, training: false).Span, 1e-5, "planned logits");

        foreach (var net in new[] { planned, plain })
        {
            var adam = new Adam(net.Parameters, 1e-2);
            var loss = new SoftmaxCrossEntropy();
            for (int step = 0; step < 2; step++)
            {
                adam.ZeroGrad();
                loss.Forward(net.Forward(x, training: true), labels);
                net.Backward(loss.Backward());
                adam.Step();
            }
        }
        Assert.IsFalse(planned.Root.Descendants().OfType<Conv2d>().Any(c => c.IsInferenceFused), "a training forward drops every fold");
        CollectionAssert.AreEqual(plain.Forward(x, false).Span.ToArray(), planned.Forward(x, false).Span.ToArray(), "trained weights and inference identical to a never-planned network");
        using var again = planned.PrepareForInference();
        AssertClose(plain.Forward(x, false).Span, planned.Forward(x, false).Span, 1e-5, "planned again after training (the new weights are folded)");
    }

    /// <summary>The fused ReLU of the GEMM and depthwise kernels is max(·, 0) of the plain output, bit for bit, for 1 and 3 threads.</summary>
    [TestMethod]
    public void FusedReluIsExactlyTheRectifiedOutput()
    {
        var r = new Random(12);
        int saved = Parallelism.MaxThreads;
        try
        {
            foreach (int threads in new[] { 1, 3 })
            {
                Parallelism.MaxThreads = threads;
                foreach (var (cin, cout, groups, h, w) in new[] { (16, 24, 1, 40, 33), (10, 10, 10, 21, 17), (6, 9, 3, 11, 8) })
                {
                    var g = new Window2d(3, 3, 1, 1, 1, 1, 1, 1);
                    var x = Random(r, 1, cin, h, w).Data;
                    var wt = Random(r, cout, cin / groups, 3, 3).Data;
                    var b = Random(r, cout).Data;
                    float[] plain = new float[cout * h * w], fused = new float[cout * h * w];
                    if (groups == cin && groups > 1)
                    {
                        DepthwiseConv.Forward(x, wt, b, plain, 1, cin, h, w, cout / cin, g, h, w);
                        DepthwiseConv.Forward(x, wt, b, fused, 1, cin, h, w, cout / cin, g, h, w, relu: true);
                    }
                    else
                    {
                        ConvGemm.Forward(x, wt, b, plain, 1, cin, h, w, cout, groups, g, h, w);
                        ConvGemm.Forward(x, wt, b, fused, 1, cin, h, w, cout, groups, g, h, w, relu: true);
                    }
                    Assert.IsTrue(plain.Any(v => v < 0) && plain.Any(v => v > 0), "both signs occur");
                    CollectionAssert.AreEqual(plain.Select(v => Math.Max(v, 0f)).ToArray(), fused, $"{cin}->{cout} g{groups}, {threads} threads");
                }
            }
        }
        finally { Parallelism.MaxThreads = saved; }
    }
}
