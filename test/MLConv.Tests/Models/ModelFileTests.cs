using MLConv.Tests.Reference;
using MLConv.Training.Layers;
using MLConv.Training.Models;
using MLConv.Training.Tensors;
using MLConv.Training.Fitting;

namespace MLConv.Tests.Models;

[TestClass]
public sealed class ModelFileTests
{
    private static string TempPath() => Path.Combine(Path.GetTempPath(), "mlconv-tests", Guid.NewGuid().ToString("N") + ".mlconv");

    private static Network TrainedResNet()
    {
        var net = Architectures.ResNet(3, 12, 10, 3, seed: 2, classNames: ["cat", "dog", "eel"]);
        var x = GradCheck.Random([12, 3, 12, 10], new Random(1));
        new Trainer(new TrainerOptions { Epochs = 1, BatchSize = 4, LearningRate = 1e-3, Schedule = LearningRateSchedule.Constant, RandomShift = 0 }).Fit(net, x, [.. Enumerable.Range(0, 12).Select(i => i % 3)]);
        return net;
    }

    [TestMethod]
    public void SaveLoadPredictIsBitIdentical()
    {
        var net = TrainedResNet();
        var path = TempPath();
        ModelFile.Save(net, path);
        var loaded = ModelFile.Load(path);
        Assert.AreEqual(net.Architecture, loaded.Architecture);
        CollectionAssert.AreEqual(net.ClassNames.ToArray(), loaded.ClassNames.ToArray());
        var x = GradCheck.Random([5, 3, 12, 10], new Random(9));
        CollectionAssert.AreEqual(net.ProbabilitiesFromPixels(x).Span.ToArray(), loaded.ProbabilitiesFromPixels(x).Span.ToArray());
        Assert.AreEqual(0, Directory.GetFiles(Path.GetDirectoryName(path)!, "*.tmp").Length, "no temp file left behind");
    }

    [TestMethod]
    public void UnknownLayerIsRefusedBeforeWriting()
    {
        var net = new Network(new Sequential(new Flatten(), new Custom(), new Linear(4, 2)), 1, 2, 2);
        var path = TempPath();
        var e = Assert.ThrowsExactly<NotSupportedException>(() => ModelFile.Save(net, path));
        StringAssert.Contains(e.Message, "Custom");
        Assert.IsFalse(File.Exists(path));
    }

    private sealed class Custom : Layer
    {
        public override Tensor Forward(Tensor x, bool training) => x;
        public override Tensor Backward(Tensor dy) => dy;
        public override int[] OutputShape(int[] inputShape) => inputShape;
        public override System.Text.Json.Nodes.JsonObject ToSpec() => new() { ["type"] = "Custom" };
    }

    [TestMethod]
    public void TruncatedCorruptedAndWrongVersionFilesThrowInvalidData()
    {
        var net = TrainedResNet();
        var path = TempPath();
        ModelFile.Save(net, path);
        var bytes = File.ReadAllBytes(path);

        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => ModelFile.Load(path)).Message, "corrupted");

        var flipped = (byte[])bytes.Clone();
        flipped[bytes.Length - 100] ^= 0x40;
        File.WriteAllBytes(path, flipped);
        Assert.ThrowsExactly<InvalidDataException>(() => ModelFile.Load(path));

        var version = (byte[])bytes.Clone();
        version[8] = 99;
        File.WriteAllBytes(path, version);
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => ModelFile.Load(path)).Message, "format version 99");

        File.WriteAllText(path, "not a model");
        Assert.ThrowsExactly<InvalidDataException>(() => ModelFile.Load(path));
        Assert.ThrowsExactly<FileNotFoundException>(() => ModelFile.Load(path + ".missing"));
    }
}
