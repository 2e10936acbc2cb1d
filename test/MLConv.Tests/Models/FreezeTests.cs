using MLConv.Tests.Reference;
using MLConv.Training.Fitting;
using MLConv.Training.Layers;
using MLConv.Training.Models;
using MLConv.Training.Tensors;

namespace MLConv.Tests.Models;

/// <summary>Partial freezing for fine-tuning: everything before a named node or value, or all but the last N layers with parameters.</summary>
[TestClass]
public sealed class FreezeTests
{
    /// <summary>x → conv1 → bn1 → relu → a; conv2(a) → b; sum(a, b) → s; conv3(s) → y: a residual step over a stem.</summary>
    private static Sequential Stem() => new(new Graph("x",
    [
        new GraphNode("conv1", new Conv2d(2, 3, 3, padding: 1), ["x"], "c1"),
        new GraphNode("bn1", new BatchNorm2d(3), ["c1"], "n1"),
        new GraphNode("relu", new ReLU(), ["n1"], "a"),
        new GraphNode("conv2", new Conv2d(3, 3, 3, padding: 1), ["a"], "b"),
        new GraphNode("sum", new Sum(), ["a", "b"], "s"),
        new GraphNode("conv3", new Conv2d(3, 4, 1), ["s"], "y"),
    ], "y"));

    /// <summary>"[frozen nodes] | trainable nodes" for a split, or the nodes with "*" on the frozen ones when wrapped in place.</summary>
    private static string Describe(Sequential s)
    {
        static string Nodes(Layer g) => string.Join(",", ((Graph)g).Nodes.Select(n => n.Layer is Frozen ? n.Name + "*" : n.Name));
        return s.Count == 2 && s[0] is Frozen f ? $"[{Nodes(f.Inner)}] | {Nodes(s[1])}"
            : s[0] is Frozen whole ? $"[{Nodes(whole.Inner)}]" : Nodes(s[0]);
    }

    [TestMethod]
    [DataRow("conv2", "[conv1,bn1,relu] | conv2,sum,conv3")]     // a node: what its inputs come from; the rest reads only a
    [DataRow("s", "[conv1,bn1,relu,conv2,sum] | conv3")]         // a value: it and what it comes from
    [DataRow("c1", "[conv1] | bn1,relu,conv2,sum,conv3")]
    [DataRow("conv1", "conv1,bn1,relu,conv2,sum,conv3")]         // nothing before the first node
    [DataRow("sum", "conv1*,bn1*,relu,conv2*,sum,conv3")]        // the rest reads a and b: frozen in place
    public void FreezeBeforeANodeOrAValue(string before, string expected) =>
        Assert.AreEqual(expected, Describe(TransferLearning.FreezeBefore(Stem(), before)));

    [TestMethod]
    public void FreezeBeforeAnUnknownNameIsRefused() =>
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => TransferLearning.FreezeBefore(Stem(), "nope")).Message, "no node or value 'nope'");

    [TestMethod]
    [DataRow(2, "[conv1,bn1,relu] | conv2,sum,conv3")]
    [DataRow(1, "[conv1,bn1,relu,conv2,sum] | conv3")]
    [DataRow(0, "[conv1,bn1,relu,conv2,sum,conv3]")]
    [DataRow(9, "conv1,bn1,relu,conv2,sum,conv3")]
    public void FreezeAllButTheLastLayers(int trainable, string expected) =>
        Assert.AreEqual(expected, Describe(TransferLearning.FreezeAllButLast(Stem(), trainable)));

    [TestMethod]
    public void ChainsFreezeTheirFirstLayers()
    {
        var chain = new Sequential(new Conv2d(2, 3, 3), new ReLU(), new Conv2d(3, 3, 3), new ReLU(), new Conv2d(3, 2, 1));
        var last2 = TransferLearning.FreezeAllButLast(chain, 2);
        Assert.AreEqual(4, last2.Count);
        Assert.AreEqual(2, ((Sequential)((Frozen)last2[0]).Inner).Count, "conv + relu before the second convolution freeze");
        var before = TransferLearning.FreezeBefore(chain, "4");
        Assert.AreEqual(4, ((Sequential)((Frozen)before[0]).Inner).Count);
        Assert.ThrowsExactly<ArgumentException>(() => TransferLearning.FreezeBefore(chain, "6"));
    }

    /// <summary>
    /// One training run: the frozen stem keeps its weights and batch-norm statistics (inference mode), the rest moves. The
    /// frozen nodes are not even asked for a gradient (a Frozen block asked for one throws).
    /// </summary>
    [TestMethod]
    [DataRow("conv2")]   // split: [Frozen(stem), rest]
    [DataRow("sum")]     // frozen in place inside the graph
    public void FrozenNodesKeepTheirStateWhileTheRestTrains(string before)
    {
        var root = TransferLearning.FreezeBefore(Stem(), before);
        var features = root.Layers.ToList();
        var net = new Network(new Sequential([.. features, new GlobalAvgPool2d(), new Flatten(), new Linear(4, 2)]), 2, 6, 5, ["a", "b"]);
        net.Root.Reset(new Random(1));
        var nodes = root.Descendants().OfType<Graph>().SelectMany(g => g.Nodes).ToList();
        var bn = root.Descendants().OfType<BatchNorm2d>().Single();
        bn.RunningMean.Fill(0.3f);
        float[] Values(string node) => [.. nodes.Single(n => n.Name == node).Layer.AllParameters().SelectMany(p => p.Value.Span.ToArray())];
        var conv1 = Values("conv1");
        var conv3 = Values("conv3");
        var x = GradCheck.Random([16, 2, 6, 5], new Random(2));
        new Trainer(new TrainerOptions { Epochs = 2, BatchSize = 8, RandomShift = 0, LearningRate = 1e-2 }).Fit(net, x, [.. Enumerable.Range(0, 16).Select(i => i % 2)]);
        CollectionAssert.AreEqual(conv1, Values("conv1"), "frozen: unchanged");
        Assert.IsTrue(bn.RunningMean.Span.ToArray().All(v => v == 0.3f), "frozen batch norm keeps its statistics");
        CollectionAssert.AreNotEqual(conv3, Values("conv3"), "after the frozen part: trained");
    }
}
