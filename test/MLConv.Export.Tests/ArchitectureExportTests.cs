using MLConv.Training.Models;
using MLConv.Training.Fitting;

namespace MLConv.Export.Tests;

/// <summary>
/// Whole architectures, trained a few steps (so BatchNorm running statistics are non-trivial) with a
/// non-identity input normalisation, exported with and without BatchNorm folding, and compared with
/// ONNX Runtime on raw pixels at batch 5 — and at batch 1 and 7 from the same file.
/// </summary>
[TestClass]
public sealed class ArchitectureExportTests
{
    [TestMethod]
    [DataRow("LeNet5", 1, 28, 24)]
    [DataRow("SimpleCNN", 3, 16, 20)]
    [DataRow("ResNet", 3, 20, 16)]
    [DataRow("MobileNetV2", 3, 16, 24)]
    public void TrainedArchitectureMatchesOrtWithAndWithoutFolding(string arch, int c, int h, int w)
    {
        var built = Architectures.Create(arch, c, h, w, 5, seed: 4);
        var net = new Network(built.Root, c, h, w, null, new Normalization([.. Enumerable.Repeat(0.4f, c)], [.. Enumerable.Repeat(0.25f, c)]))
            { Architecture = built.Architecture };
        var rng = new Random(9);
        var x = Fixtures.RandomTensor(rng, [20, c, h, w], 0.3f);
        for (int i = 0; i < x.Length; i++) x[i] += 0.4f;
        new Trainer(new TrainerOptions { Epochs = 2, BatchSize = 5, LearningRate = 3e-3, Schedule = LearningRateSchedule.Constant, RandomShift = 0 }).Fit(net, x, [.. Enumerable.Range(0, 20).Select(i => i % 5)]);
        Assert.IsTrue(net.Root.Descendants().OfType<Training.Layers.BatchNorm2d>().All(bn => bn.BatchesTracked > 0) || arch == "LeNet5");

        using var dir = new TempFolder();
        foreach (bool fold in new[] { false, true })
        {
            string path = dir[$"{arch}-{fold}.onnx"];
            var report = OnnxExporter.Export(net, path, new OnnxExportOptions { FoldBatchNorm = fold });
            if (fold && arch != "LeNet5") Assert.IsTrue(report.FoldedBatchNorms > 0, "folding happened");
            foreach (int batch in new[] { 5, 1, 7 })
            {
                var input = Fixtures.RandomTensor(new Random(batch), [batch, c, h, w], 0.3f);
                var v = OnnxVerifier.Verify(net, path, input);
                Assert.IsTrue(v.Passed(1e-4), $"{arch} fold={fold} batch={batch}\n{v}");
                Assert.AreEqual(batch, v.Comparisons.First().Samples);
            }
        }
    }
}
