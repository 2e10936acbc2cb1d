using MLConv.Tests.Reference;
using MLConv.Training.Layers;
using MLConv.Training.Models;
using MLConv.Training.Fitting;

namespace MLConv.Tests.Models;

[TestClass]
public sealed class ArchitectureTests
{
    [TestMethod]
    [DataRow("LeNet5", 1, 28, 28)]
    [DataRow("SimpleCNN", 3, 16, 24)]
    [DataRow("ResNet", 3, 20, 16)]
    [DataRow("MobileNetV2", 3, 16, 20)]
    public void TrainsAFewStepsAndLossFalls(string arch, int c, int h, int w)
    {
        var net = Architectures.Create(arch, c, h, w, 4, seed: 3);
        var rng = new Random(5);
        var x = GradCheck.Random([16, c, h, w], rng);
        int[] y = [.. Enumerable.Range(0, 16).Select(i => i % 4)];
        var before = Trainer.Evaluate(net, x, y).Loss;
        var trainer = new Trainer(new TrainerOptions { Epochs = 6, BatchSize = 8, LearningRate = 2e-3, Schedule = LearningRateSchedule.Constant, RandomShift = 0, Seed = 1 });
        var result = trainer.Fit(net, x, y);
        Assert.AreEqual(6, result.History.Count);
        var after = Trainer.Evaluate(net, x, y).Loss;
        Assert.IsTrue(after < before, $"{arch}: loss {before} -> {after}");
        var probs = net.ProbabilitiesFromPixels(x);
        for (int i = 0; i < 16; i++)
            Assert.AreEqual(1.0, Enumerable.Range(0, 4).Sum(k => probs[i, k]), 1e-5);
    }

    [TestMethod]
    public void ArchitecturesHaveTheDocumentedShapes()
    {
        var lenet = Architectures.LeNet5();
        Assert.AreEqual(61_706, lenet.ParameterCount);   // 156 + 2,416 + 48,120 + 10,164 + 850
        var simple = Architectures.SimpleCnn();
        // Seeds: 32x32x3 -> 16x16x64 -> 8x8x128 -> 4x4x256 -> FC 512 -> 10.
        var convs = simple.Root.Layers.OfType<Conv2d>().Select(l => l.OutChannels).ToArray();
        CollectionAssert.AreEqual(new[] { 64, 128, 256 }, convs);
        Assert.AreEqual(256 * 4 * 4, simple.Root.Layers.OfType<Linear>().First().InFeatures);
        var resnet = Architectures.ResNet(blocksPerStage: 3);
        Assert.AreEqual("ResNet20", resnet.Architecture);
        Assert.AreEqual(9, resnet.Root.Layers.OfType<Residual>().Count());
        Assert.AreEqual(2, resnet.Root.Layers.OfType<Residual>().Count(r => r.Shortcut is not null));
        var mobile = Architectures.MobileNetV2();
        Assert.IsTrue(mobile.Root.Descendants().OfType<Conv2d>().Any(cv => cv.Groups == cv.InChannels && cv.Groups > 1), "depthwise convolution");
        Assert.IsTrue(mobile.Root.Descendants().OfType<Residual>().Any(), "skip connection where shapes match");
        Assert.ThrowsExactly<ArgumentException>(() => Architectures.Create("AlexNet", 3, 32, 32, 10));
    }

    [TestMethod]
    public void SummaryReportsShapesParametersMacsAndReceptiveField()
    {
        var net = Architectures.LeNet5();
        var s = net.Summary();
        Assert.AreEqual(net.ParameterCount, s.TotalParameters);
        Assert.AreEqual(s.Rows.Sum(r => r.Parameters), s.TotalParameters);
        var conv1 = s.Rows[0];
        CollectionAssert.AreEqual(new[] { 1, 6, 28, 28 }, conv1.OutputShape);
        Assert.AreEqual(156, conv1.Parameters);
        Assert.AreEqual(28L * 28 * 6 * 25, conv1.MultiplyAccumulates);
        Assert.AreEqual(new Size2(5, 5), conv1.ReceptiveField);
        // conv5 -> pool2 -> conv5 -> pool2: r = 5, 5 + 1·1 = 6, 6 + 4·2 = 14, 14 + 1·2 = 16.
        Assert.AreEqual(new Size2(16, 16), s.Rows[5].ReceptiveField);
        // Three stacked 3x3 convs see 7x7 (the seeds' 1 + 2n).
        var three = new Network(new Sequential(new Conv2d(1, 2, 3), new Conv2d(2, 2, 3), new Conv2d(2, 2, 3), new Flatten(), new Linear(2 * 4 * 4, 2)), 1, 10, 10);
        Assert.AreEqual(new Size2(7, 7), three.Summary().Rows[2].ReceptiveField);
        StringAssert.Contains(s.ToString(), "Total params: 61,706");
        var res = Architectures.ResNet().Summary();
        Assert.AreEqual(Architectures.ResNet().ParameterCount, res.TotalParameters);
        Assert.IsTrue(res.Rows.Any(r => r.Layer.StartsWith("Residual", StringComparison.Ordinal)));
    }
}
