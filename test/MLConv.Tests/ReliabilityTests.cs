using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using MLConv.Tests.Data;
using MLConv.Tests.Reference;
using MLConv.Training.Fitting;
using MLConv.Training.Kernels;
using MLConv.Training.Layers;
using MLConv.Training.Models;
using MLConv.Training.Tensors;

namespace MLConv.Tests;

/// <summary>
/// Bad inputs of the training core that used to be silently wrong or weak (docs/reliability.md): size arithmetic that
/// overflowed, enums and ranges not checked at the door, a checkpoint path found bad only after the first epoch, empty
/// batches, and model files whose header or tensor list lies while the checksum is valid.
/// </summary>
[TestClass]
public sealed class ReliabilityTests
{
    [TestMethod]
    public void SizeArithmeticNeverWraps()
    {
        // 16·16385·16385 features wrapped to 1,086,210,048 (Flatten) and LeNet-5's first Linear got 524,304 inputs.
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => new Flatten().OutputShape([1, 16, 100000, 100000])).Message, "more than 2147483647 features");
        Assert.ThrowsExactly<ArgumentException>(() => Architectures.LeNet5(1, 65552, 65552, 10));
        // A shape whose element count overflows long wrapped to a small (here 0-element) tensor.
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => new Tensor(65536, 65536, 65536, 65536, 65536)).Message, "too large");
        Assert.AreEqual(0, new Tensor(65536, 65536, 65536, 0).Length);
        // A window over an input near int.MaxValue gave a negative or wrapped extent.
        Assert.ThrowsExactly<ArgumentException>(() => Window2d.OutputExtent(int.MaxValue, 3, 1, 2, 2, 1, ceilMode: false));
        Assert.AreEqual(int.MaxValue - 2, Window2d.OutputExtent(int.MaxValue, 3, 1, 0, 0, 1, ceilMode: false));
    }

    [TestMethod]
    public void UndefinedEnumsAreRefused()
    {
        // (OptimizerKind)5 trained with Adam and (LearningRateSchedule)9 with a constant rate.
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Trainer(new TrainerOptions { Optimizer = (OptimizerKind)5 }));
        Assert.AreEqual("Optimizer", e.ParamName);
        StringAssert.Contains(e.Message, "Adam, Sgd");
        Assert.AreEqual("Schedule", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Trainer(new TrainerOptions { Schedule = (LearningRateSchedule)9 })).ParamName);
    }

    private static (Network Net, Tensor X, int[] Y) Small(int h = 8, int w = 8)
    {
        var net = new Network(new Sequential(new Conv2d(1, 2, 3, padding: 1), new ReLU(), new Flatten(), new Linear(2 * h * w, 2)), 1, h, w);
        var x = GradCheck.Random([6, 1, h, w], new Random(1));
        return (net, x, [0, 1, 0, 1, 0, 1]);
    }

    [TestMethod]
    public void RandomShiftMustLeaveSomethingOfTheImage()
    {
        var (net, x, y) = Small();
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Trainer(new TrainerOptions { Epochs = 1, RandomShift = 50 }).Fit(net, x, y));
        Assert.AreEqual("RandomShift", e.ParamName);
        StringAssert.Contains(e.Message, "8x8");
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Trainer(new TrainerOptions { Epochs = 1, RandomShift = 8 }).Fit(net, x, y));
        new Trainer(new TrainerOptions { Epochs = 1, RandomShift = 7 }).Fit(net, x, y);
    }

    [TestMethod]
    public void ABadCheckpointPathIsRefusedBeforeTheFirstEpochNamingIt()
    {
        using var dir = new TempFolder();
        var (net, x, y) = Small();
        int epochs = 0;
        var progress = new SyncProgress(p => { if (p.Kind == ProgressKind.Epoch) epochs++; });
        string folder = dir.Path;
        var e = Assert.ThrowsExactly<ArgumentException>(() => new Trainer(new TrainerOptions { Epochs = 2, CheckpointPath = folder }).Fit(net, x, y, progress: progress));
        Assert.AreEqual("CheckpointPath", e.ParamName);
        StringAssert.Contains(e.Message, $"'{folder}' is a folder");
        File.WriteAllText(dir["file"], "x");
        string underFile = Path.Combine(dir["file"], "ckpt.mlconv");
        e = Assert.ThrowsExactly<ArgumentException>(() => new Trainer(new TrainerOptions { Epochs = 2, CheckpointPath = underFile }).Fit(net, x, y, progress: progress));
        StringAssert.Contains(e.Message, underFile);
        Assert.AreEqual(0, epochs, "no epoch ran before the path was refused");
        Assert.IsEmpty(Directory.GetFiles(dir.Path, "*.probe", SearchOption.AllDirectories));
        StringAssert.Contains(Assert.ThrowsExactly<FileNotFoundException>(() => new Trainer(new TrainerOptions { Epochs = 1 }).Fit(net, x, y, resumeFrom: folder)).Message, "is a folder");
    }

    [TestMethod]
    public void AnEmptyBatchIsRefusedByTheLayers()
    {
        var conv = new Conv2d(2, 3, 3);
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => conv.Forward(new Tensor(0, 2, 5, 5), training: true)).Message, "empty batch");
        Assert.ThrowsExactly<ArgumentException>(() => new Linear(4, 2).Forward(new Tensor(0, 4), training: true));
    }

    private static string SavedModel(TempFolder dir)
    {
        var (net, _, _) = Small();
        string path = dir["m.mlconv"];
        ModelFile.Save(net, path);
        return path;
    }

    /// <summary>Rewrites a model file's JSON header and payload, then stamps a valid SHA-256: only the content lies.</summary>
    private static void Rewrite(string path, Func<JsonObject, JsonObject> header, Func<byte[], byte[]>? payload = null)
    {
        byte[] bytes = File.ReadAllBytes(path);
        int length = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(12));
        var json = header(JsonNode.Parse(bytes.AsSpan(16, length))!.AsObject());
        byte[] body = payload?.Invoke(bytes[(16 + length)..^32]) ?? bytes[(16 + length)..^32];
        byte[] head = Encoding.UTF8.GetBytes(json.ToJsonString());
        using var m = new MemoryStream();
        m.Write(bytes.AsSpan(0, 12));
        var i32 = new byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(i32, head.Length);
        m.Write(i32);
        m.Write(head);
        m.Write(body);
        m.Write(SHA256.HashData(m.ToArray()));
        File.WriteAllBytes(path, m.ToArray());
    }

    [TestMethod]
    public void ModelFilesWithAValidChecksumButLyingContentGiveClearErrors()
    {
        using var dir = new TempFolder();
        StringAssert.Contains(Assert.ThrowsExactly<FileNotFoundException>(() => ModelFile.Load(dir.Path)).Message, "is a folder");

        foreach (string field in new[] { "input", "classNames", "normalization", "spec" })
        {
            string path = SavedModel(dir);
            Rewrite(path, h => { h.Remove(field); return h; });
            var e = Assert.ThrowsExactly<InvalidDataException>(() => ModelFile.Load(path), field);
            StringAssert.Contains(e.Message, $"field '{field}'");
            StringAssert.Contains(e.Message, path);
        }

        // A tensor listed as [65536, 65536] (Length·4 wrapped in int) in a file of a few KB: refused before any allocation.
        string crafted = SavedModel(dir);
        Rewrite(crafted, h =>
        {
            h["extra"] = new JsonObject();
            h["extraTensors"] = new JsonArray(new JsonObject { ["name"] = "huge", ["shape"] = new JsonArray(65536, 65536) });
            return h;
        });
        long before = GC.GetAllocatedBytesForCurrentThread();
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => ModelFile.Load(crafted)).Message, "tensor 'huge' goes past the end");
        Assert.IsLessThan(16L << 20, GC.GetAllocatedBytesForCurrentThread() - before, "bytes allocated while refusing the file");
    }

    private sealed class SyncProgress(Action<TrainingProgress> a) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => a(value);
    }
}
