using MLConv.Tests.Reference;
using MLConv.Training.Layers;
using MLConv.Training.Tensors;

namespace MLConv.Tests.Layers;

[TestClass]
public sealed class ReshapeTransposeTests
{
    [TestMethod]
    public void ReshapeFollowsOnnxRulesAfterTheBatchAxis()
    {
        CollectionAssert.AreEqual(new[] { 3, 2, 4, 15 }, new Reshape(2, 0, -1).OutputShape([3, 6, 4, 5]), "0 copies input axis 2, -1 takes the rest");
        CollectionAssert.AreEqual(new[] { 3, 120 }, new Reshape(-1).OutputShape([3, 6, 4, 5]));
        CollectionAssert.AreEqual(new[] { 2, 4, 3, 2, 2 }, new Reshape(4, 3, 2, 2).OutputShape([2, 48]));
        StringAssert.Contains(Assert.Throws<ArgumentException>(() => new Reshape(7, -1).OutputShape([3, 6, 4, 5])).Message, "cannot infer");
        StringAssert.Contains(Assert.Throws<ArgumentException>(() => new Reshape(5, 5).OutputShape([3, 6, 4, 5])).Message, "needs 25");
        StringAssert.Contains(Assert.Throws<ArgumentException>(() => new Reshape(0, 0, 0, 0).OutputShape([3, 6, 4, 5])).Message, "lacks");
        Assert.Throws<ArgumentException>(() => new Reshape(-1, -1));
        Assert.Throws<ArgumentException>(() => new Reshape());
    }

    [TestMethod]
    public void ReshapeGradients()
    {
        var conv = new Conv2d(2, 6, 3, padding: 1);
        var net = new Sequential(conv, new Reshape(3, 0, -1), new ReLU());
        GradCheck.Run(net, [2, 2, 4, 5], (x, p) =>
        {
            var y = Naive.Conv(x, 2, 2, 4, 5, p[0], p[1], 6, new Naive.Geo(3, 3, Pt: 1, Pl: 1, Pb: 1, Pr: 1), 1, out _, out _);
            return Naive.Relu(y);
        }, seed: 41);
    }

    [TestMethod]
    [DataRow(new[] { 0, 3, 1, 2 }, new[] { 3, 2, 5, 4 })]
    [DataRow(new[] { 0, 2, 3, 1 }, new[] { 2, 3, 4, 5 })]
    [DataRow(new[] { 0, 1, 3, 2 }, new[] { 2, 3, 4, 5 })]
    [DataRow(new[] { 0, 2, 1, 3, 4 }, new[] { 2, 3, 4, 2, 3 })]
    [DataRow(new[] { 0, 2, 1 }, new[] { 3, 5, 4 })]
    public void TransposeGradients(int[] perm, int[] shape)
    {
        GradCheck.Run(new Transpose(perm), shape, (x, _) => Naive.Transpose(x, shape, perm), seed: 43 + perm[1]);
    }

    /// <summary>ShuffleNet's channel shuffle with g = 3 groups of 2: Reshape [N, g, C/g, H, W] → Transpose (0, 2, 1, 3, 4) → Reshape [N, C, H, W].</summary>
    [TestMethod]
    public void ChannelShuffleGradients()
    {
        var conv = new Conv2d(4, 6, 1);
        var net = new Sequential(conv, new Reshape(3, 2, 5, 7), new Transpose(0, 2, 1, 3, 4), new Reshape(-1, 5, 7));
        GradCheck.Run(net, [2, 4, 5, 7], (x, p) =>
        {
            var y = Naive.Conv(x, 2, 4, 5, 7, p[0], p[1], 6, new Naive.Geo(1, 1), 1, out _, out _);
            return Naive.Transpose(y, [2, 3, 2, 5, 7], [0, 2, 1, 3, 4]);
        }, seed: 47);
        // Output channel 2i + j is input channel 2j + i: the groups interleave.
        var shuffle = new Sequential(new Reshape(3, 2, 1, 1), new Transpose(0, 2, 1, 3, 4), new Reshape(6, 1, 1));
        var x = new Tensor(1, 6, 1, 1);
        for (int c = 0; c < 6; c++) x[c] = c;
        CollectionAssert.AreEqual(new float[] { 0, 2, 4, 1, 3, 5 }, shuffle.Forward(x, false).Span.ToArray());
    }

    [TestMethod]
    public void TransposeRefusesPermutationsMovingTheBatch()
    {
        StringAssert.Contains(Assert.Throws<ArgumentException>(() => new Transpose(1, 0, 2, 3)).Message, "perm[0] = 0");
        Assert.Throws<ArgumentException>(() => new Transpose(0, 1, 1, 3));
        StringAssert.Contains(Assert.Throws<ArgumentException>(() => new Transpose(0, 2, 1).OutputShape([1, 2, 3, 4])).Message, "rank-3");
    }
}
