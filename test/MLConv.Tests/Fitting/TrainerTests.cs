using MLConv.Tests.Reference;
using MLConv.Training.Models;
using MLConv.Training.Tensors;
using MLConv.Training.Fitting;

namespace MLConv.Tests.Fitting;

[TestClass]
public sealed class TrainerTests
{
    private static (Tensor X, int[] Y) Data(int n, int seed)
    {
        var x = GradCheck.Random([n, 3, 12, 12], new Random(seed));
        return (x, [.. Enumerable.Range(0, n).Select(i => i % 4)]);
    }

    private static Network Net() => Architectures.SimpleCnn(3, 12, 12, 4, widths: [4, 8], hidden: 16, seed: 7);

    private static float[] Weights(Network n) => [.. n.Parameters.SelectMany(p => p.Value.Span.ToArray())];

    [TestMethod]
    public void SameSeedGivesBitIdenticalWeights()
    {
        var (x, y) = Data(40, 1);
        var opts = new TrainerOptions { Epochs = 2, BatchSize = 8, Seed = 3, LearningRate = 1e-3, Schedule = LearningRateSchedule.Cosine, RandomShift = 0 };
        var a = Net(); new Trainer(opts).Fit(a, x, y);
        var b = Net(); new Trainer(opts).Fit(b, x, y);
        CollectionAssert.AreEqual(Weights(a), Weights(b));
        var c = Net(); new Trainer(new TrainerOptions { Epochs = 2, BatchSize = 8, Seed = 4, LearningRate = 1e-3, Schedule = LearningRateSchedule.Cosine, RandomShift = 0 }).Fit(c, x, y);
        CollectionAssert.AreNotEqual(Weights(a), Weights(c));
    }

    [TestMethod]
    public void WeightsDoNotDependOnTheThreadCount()
    {
        var (x, y) = Data(40, 8);
        var opts = new TrainerOptions { Epochs = 1, BatchSize = 16, Seed = 2, LearningRate = 1e-3, Schedule = LearningRateSchedule.Constant, RandomShift = 1 };
        int saved = MLConv.Training.Kernels.Parallelism.MaxThreads;
        try
        {
            MLConv.Training.Kernels.Parallelism.MaxThreads = 1;
            var a = Net(); new Trainer(opts).Fit(a, x, y);
            MLConv.Training.Kernels.Parallelism.MaxThreads = 4;
            var b = Net(); new Trainer(opts).Fit(b, x, y);
            CollectionAssert.AreEqual(Weights(a), Weights(b));
        }
        finally { MLConv.Training.Kernels.Parallelism.MaxThreads = saved; }
    }

    [TestMethod]
    public void ResumeFromCheckpointMatchesUninterruptedRun()
    {
        var (x, y) = Data(30, 2);
        var (vx, vy) = Data(12, 3);
        string cp = Path.Combine(Path.GetTempPath(), "mlconv-tests", Guid.NewGuid().ToString("N") + ".ckpt");
        TrainerOptions Opts(int epochs) => new() { Epochs = epochs, BatchSize = 8, Seed = 5, Optimizer = OptimizerKind.Sgd, LearningRate = 0.05, Schedule = LearningRateSchedule.Step, StepSize = 2, RandomShift = 0, CheckpointPath = cp };

        var full = Net();
        new Trainer(Opts(4)).Fit(full, x, y, vx, vy);

        var first = Net();
        new Trainer(Opts(2)).Fit(first, x, y, vx, vy);   // stops after epoch 2, checkpoint written
        var resumed = Net();
        var result = new Trainer(Opts(4)).Fit(resumed, x, y, vx, vy, resumeFrom: cp);
        Assert.AreEqual(4, result.History.Count);
        CollectionAssert.AreEqual(Weights(full), Weights(resumed));
    }

    [TestMethod]
    public void ResumeAfterCancellationWithAdamCosineAndShiftMatchesUninterruptedRun()
    {
        var (x, y) = Data(30, 9);
        string cp = Path.Combine(Path.GetTempPath(), "mlconv-tests", Guid.NewGuid().ToString("N") + ".ckpt");
        TrainerOptions Opts() => new() { Epochs = 4, BatchSize = 8, Seed = 6, LearningRate = 1e-3, Schedule = LearningRateSchedule.Cosine, RandomShift = 1, CheckpointPath = cp };

        var full = Net();
        new Trainer(Opts()).Fit(full, x, y);

        var interrupted = Net();
        using var cts = new CancellationTokenSource();
        var stopAfterTwo = new SyncProgress(p => { if (p.Kind == ProgressKind.Epoch && p.Epoch == 2) cts.Cancel(); });
        Assert.ThrowsExactly<OperationCanceledException>(() => new Trainer(Opts()).Fit(interrupted, x, y, progress: stopAfterTwo, cancellationToken: cts.Token));

        var resumed = Net();
        var result = new Trainer(Opts()).Fit(resumed, x, y, resumeFrom: cp);
        Assert.AreEqual(4, result.History.Count);
        CollectionAssert.AreEqual(Weights(full), Weights(resumed));

        var other = Opts();
        other.LearningRate = 0.01;
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => new Trainer(other).Fit(Net(), x, y, resumeFrom: cp)).Message, "learningRate");
        var longer = Opts();
        longer.Epochs = 6;   // the cosine schedule spans the run: a different length is a different run
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => new Trainer(longer).Fit(Net(), x, y, resumeFrom: cp)).Message, "epochs");
    }

    [TestMethod]
    public void NaNLossStopsWithEpochAndBatch()
    {
        var (x, y) = Data(16, 4);
        var net = Net();
        var e = Assert.ThrowsExactly<TrainingDivergedException>(() =>
            new Trainer(new TrainerOptions { Epochs = 3, BatchSize = 8, Optimizer = OptimizerKind.Sgd, LearningRate = 1e30, Momentum = 0, Schedule = LearningRateSchedule.Constant, RandomShift = 0 }).Fit(net, x, y));
        StringAssert.Contains(e.Message, "at epoch 1, batch ");
    }

    [TestMethod]
    public void ProgressCancellationAndBadInput()
    {
        var (x, y) = Data(32, 5);
        var reports = new List<TrainingProgress>();
        using var cts = new CancellationTokenSource();
        var progress = new SyncProgress(p => { reports.Add(p); if (p.Kind == ProgressKind.Epoch) cts.Cancel(); });
        Assert.ThrowsExactly<OperationCanceledException>(() =>
            new Trainer(new TrainerOptions { Epochs = 5, BatchSize = 4, LearningRate = 1e-3, Schedule = LearningRateSchedule.Constant, RandomShift = 0, ProgressEveryBatches = 2 }).Fit(Net(), x, y, x, y, progress, cts.Token));
        Assert.AreEqual(1, reports.Count(r => r.Kind == ProgressKind.Epoch));
        Assert.IsTrue(reports.Count(r => r.Kind == ProgressKind.Batch) >= 3);
        var epochReport = reports.Single(r => r.Kind == ProgressKind.Epoch);
        Assert.IsNotNull(epochReport.ValidationAccuracy);
        Assert.IsTrue(epochReport.ExamplesPerSecond > 0);

        Assert.AreEqual("labels", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Trainer().Fit(Net(), x, [.. y.Select(v => v + 1)])).ParamName);
        var bad = x.Clone(); bad[5] = float.NaN;
        Assert.AreEqual("images", Assert.ThrowsExactly<ArgumentException>(() => new Trainer().Fit(Net(), bad, y)).ParamName);
        Assert.AreEqual("images", Assert.ThrowsExactly<ArgumentException>(() => new Trainer().Fit(Net(), new Tensor(0, 3, 12, 12), [])).ParamName);
        Assert.AreEqual("images", Assert.ThrowsExactly<ArgumentException>(() => new Trainer().Fit(Net(), new Tensor(2, 1, 12, 12), [0, 1])).ParamName);
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Trainer(new TrainerOptions { BatchSize = 0 }));
    }

    [TestMethod]
    public void EarlyStoppingStopsOnPatience()
    {
        var (x, y) = Data(24, 6);
        var (vx, _) = Data(24, 7);
        int[] randomLabels = [.. Enumerable.Range(0, 24).Select(i => (i * 7 + 3) % 4)];
        var net = Net();
        var snapshots = new Dictionary<int, float[]>();
        var progress = new SyncProgress(p => { if (p.Kind == ProgressKind.Epoch) snapshots[p.Epoch] = Weights(net); });
        var result = new Trainer(new TrainerOptions { Epochs = 30, BatchSize = 8, LearningRate = 5e-3, Schedule = LearningRateSchedule.Constant, RandomShift = 0, EarlyStoppingPatience = 2 }).Fit(net, x, y, vx, randomLabels, progress);
        Assert.IsTrue(result.StoppedEarly);
        Assert.IsTrue(result.History.Count < 30);
        Assert.AreEqual(result.BestEpoch + 2, result.History.Count);
        CollectionAssert.AreEqual(snapshots[result.BestEpoch], Weights(net), "the best epoch's weights are restored");
        CollectionAssert.AreNotEqual(snapshots[result.History.Count], Weights(net));
    }

    [TestMethod]
    public void SchedulesShapeTheLearningRate()
    {
        var o = new TrainerOptions { LearningRate = 0.1, Schedule = LearningRateSchedule.Step, StepSize = 2, StepGamma = 0.5, Epochs = 6 };
        Assert.AreEqual(0.1, o.LearningRateAt(0, 10, 60), 1e-12);
        Assert.AreEqual(0.05, o.LearningRateAt(25, 10, 60), 1e-12);
        o.Schedule = LearningRateSchedule.Cosine;
        Assert.AreEqual(0.05, o.LearningRateAt(30, 10, 60), 1e-12);
        o.WarmupEpochs = 1;
        Assert.AreEqual(0.01, o.LearningRateAt(0, 10, 60), 1e-12);
        o.Schedule = LearningRateSchedule.OneCycle; o.WarmupEpochs = 0;
        Assert.AreEqual(0.1 / 25, o.LearningRateAt(0, 10, 100), 1e-12);
        Assert.AreEqual(0.1, o.LearningRateAt(30, 10, 100), 1e-9);
    }

    private sealed class SyncProgress(Action<TrainingProgress> a) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => a(value);
    }
}

[TestClass]
public sealed class AugmentationTests
{
    [TestMethod]
    public void ShiftMatchesNaiveTranslation()
    {
        var rng = new Random(3);
        int c = 2, h = 5, w = 7;
        var src = Enumerable.Range(0, c * h * w).Select(_ => (float)rng.NextDouble()).ToArray();
        foreach (var (dy, dx) in new[] { (0, 0), (1, -2), (-2, 3), (4, 0), (0, -7) })
        {
            var dst = new float[src.Length];
            Trainer.Shift(src, dst, c, h, w, dy, dx);
            for (int ch = 0; ch < c; ch++)
            for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                int sy = y - dy, sx = x - dx;
                float expected = sy >= 0 && sy < h && sx >= 0 && sx < w ? src[(ch * h + sy) * w + sx] : 0f;
                Assert.AreEqual(expected, dst[(ch * h + y) * w + x], $"shift ({dy}, {dx}) at ({ch}, {y}, {x})");
            }
        }
    }
}

[TestClass]
public sealed class TrainerOptionsTests
{
    [TestMethod]
    [DataRow(41, 8, 2, 5)]   // a last batch of one is skipped
    [DataRow(41, 8, 1, 6)]   // ... unless every batch is kept
    [DataRow(42, 8, 2, 6)]
    [DataRow(1, 8, 2, 1)]    // the only batch is never skipped
    [DataRow(40, 8, 2, 5)]
    public void MinLastBatchSizeSkipsASmallLastBatch(int examples, int batch, int minLast, int expected) =>
        Assert.AreEqual(expected, new TrainerOptions { BatchSize = batch, MinLastBatchSize = minLast }.BatchesPerEpoch(examples));
}
