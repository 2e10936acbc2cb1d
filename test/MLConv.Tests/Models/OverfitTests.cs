using MLConv.Tests.Reference;
using MLConv.Training.Layers;
using MLConv.Training.Losses;
using MLConv.Training.Optimizers;

namespace MLConv.Tests.Models;

[TestClass]
public sealed class OverfitTests
{
    /// <summary>All layers' gradients together: a small CNN memorises 32 random images with Adam.</summary>
    [TestMethod]
    public void SmallCnnOverfitsFixedBatch()
    {
        var rng = new Random(11);
        var net = new Sequential(
            new Conv2d(1, 8, 3, padding: 1), new BatchNorm2d(8), new ReLU(), new MaxPool2d(2),
            new Conv2d(8, 16, 3, padding: 1), new ReLU(), new AvgPool2d(2),
            new Flatten(), new Linear(16 * 3 * 3, 10));
        net.Reset(new Random(1));
        var x = GradCheck.Random([32, 1, 12, 12], rng);
        int[] labels = [.. Enumerable.Range(0, 32).Select(i => i % 10)];
        var loss = new SoftmaxCrossEntropy();
        var opt = new Adam(net.AllParameters(), lr: 0.01);
        var losses = new List<float>();
        for (int step = 0; step < 150; step++)
        {
            opt.ZeroGrad();
            losses.Add(loss.Forward(net.Forward(x, true), labels));
            net.Backward(loss.Backward());
            opt.Step();
        }
        var logits = net.Forward(x, false);
        int correct = 0;
        for (int i = 0; i < 32; i++)
        {
            int best = 0;
            for (int k = 1; k < 10; k++) if (logits[i, k] > logits[i, best]) best = k;
            if (best == labels[i]) correct++;
        }
        Assert.AreEqual(32, correct, $"train accuracy {correct}/32; final loss {losses[^1]}");
        Assert.IsTrue(losses[^1] < 0.05 * losses[0], $"loss fell only from {losses[0]} to {losses[^1]}");
        // Falls monotonically enough: each block of 15 steps ends lower than the block before.
        for (int b = 1; b < 10; b++)
            Assert.IsTrue(losses.Skip(b * 15).Take(15).Average() < losses.Skip((b - 1) * 15).Take(15).Average(), $"loss rose in block {b}");
    }
}
