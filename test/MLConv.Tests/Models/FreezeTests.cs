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

    private static string[] FrozenNodes(Sequential s) => [.. ((Graph)s[0]).Nodes.Where(n => n.Layer is Frozen).Select(n => n.Name)];

    [TestMethod]
    public void FreezeBeforeANodeOrAValue()
    {
        CollectionAssert.AreEqual(new[] { "conv1", "bn1" }, FrozenNodes(TransferLearning.FreezeBefore(Stem(), "conv2")));
        CollectionAssert.AreEqual(new[] { "conv1", "bn1", "conv2" }, FrozenNodes(TransferLearning.FreezeBefore(Stem(), "s")));
        CollectionAssert.AreEqual(new[] { "conv1" }, FrozenNodes(TransferLearning.FreezeBefore(Stem(), "c1")));
        CollectionAssert.AreEqual(Array.Empty<string>(), FrozenNodes(TransferLearning.FreezeBefore(Stem(), "conv1")));
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => TransferLearning.FreezeBefore(Stem(), "nope")).Message, "no node or value 'nope'");
    }

    [TestMethod]
    public void FreezeAllButTheLastLayers()
    {
        CollectionAssert.AreEqual(new[] { "conv1", "bn1" }, FrozenNodes(TransferLearning.FreezeAllButLast(Stem(), 2)));
        CollectionAssert.AreEqual(new[] { "conv1", "bn1", "conv2", "conv3" }, FrozenNodes(TransferLearning.FreezeAllButLast(Stem(), 0)));
        CollectionAssert.AreEqual(Array.Empty<string>(), FrozenNodes(TransferLearning.FreezeAllButLast(Stem(), 9)));
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
    public void FrozenNodesKeepTheirStateWhileTheRestTrains()
    {
        var root = TransferLearning.FreezeBefore(Stem(), "conv2");
        var features = root.Layers.ToList();
        var net = new Network(new Sequential([.. features, new GlobalAvgPool2d(), new Flatten(), new Linear(4, 2)]), 2, 6, 5, ["a", "b"]);
        net.Root.Reset(new Random(1));
        var graph = (Graph)root[0];
        var bn = (BatchNorm2d)((Frozen)graph.Nodes[1].Layer).Inner;
        bn.RunningMean.Fill(0.3f);
        float[] Values(string node) => [.. graph.Nodes.Single(n => n.Name == node).Layer.AllParameters().SelectMany(p => p.Value.Span.ToArray())];
        var conv1 = Values("conv1");
        var conv2 = Values("conv2");
        var x = GradCheck.Random([16, 2, 6, 5], new Random(2));
        new Trainer(new TrainerOptions { Epochs = 2, BatchSize = 8, RandomShift = 0, LearningRate = 1e-2 }).Fit(net, x, [.. Enumerable.Range(0, 16).Select(i => i % 2)]);
        CollectionAssert.AreEqual(conv1, Values("conv1"), "frozen: unchanged");
        Assert.IsTrue(bn.RunningMean.Span.ToArray().All(v => v == 0.3f), "frozen batch norm keeps its statistics");
        CollectionAssert.AreNotEqual(conv2, Values("conv2"), "after the frozen part: trained");
    }
}
