using MLConv.Tests.Reference;
using MLConv.Training.Distributed;
using MLConv.Training.Fitting;
using MLConv.Training.Models;
using MLConv.Training.Tensors;

namespace MLConv.Tests.Distributed;

/// <summary>
/// Data-parallel training without MPI: ranks are threads (<see cref="ThreadGroup"/>), so these run everywhere; the same
/// properties under mpirun are <see cref="MpiTrainingTests"/>.
/// </summary>
[TestClass]
public sealed class DataParallelTrainingTests
{
    private static (Tensor X, int[] Y) Data(int n, int seed)
    {
        var x = GradCheck.Random([n, 3, 12, 12], new Random(seed));
        return (x, [.. Enumerable.Range(0, n).Select(i => i % 4)]);
    }

    // BatchNorm (running statistics as buffers) and dropout (per-shard masks).
    private static Network Net() => Architectures.SimpleCnn(3, 12, 12, 4, widths: [4, 8], hidden: 16, dropout: 0.3, seed: 7);

    private static float[] State(Network n) =>
        [.. n.Parameters.SelectMany(p => p.Value.Span.ToArray()), .. n.Root.NamedBuffers().SelectMany(b => b.Value.Span.ToArray())];

    private static TrainerOptions Options(int shards, ICommunicator? comm = null, int epochs = 2, string? checkpoint = null) => new()
    {
        Epochs = epochs, BatchSize = 8, GradientShards = shards, Seed = 3, LearningRate = 2e-3, Schedule = LearningRateSchedule.Step,
        StepSize = 1, RandomShift = 1, HorizontalFlip = true, MinLastBatchSize = 1, Communicator = comm, CheckpointPath = checkpoint,
    };

    [TestMethod]
    public void RanksGiveTheSingleProcessWeightsBitForBit()
    {
        // 33 examples in batches of 8: the last batch has one example, so three of its four shards are empty.
        var (x, y) = Data(33, 1);
        var single = Net();
        new Trainer(Options(4)).Fit(single, x, y);
        var expected = State(single);
        foreach (int ranks in new[] { 2, 4 })  // a power of two: recursive halving and doubling
        {
            var states = ThreadGroup.Run(ranks, comm =>
            {
                var net = Net();
                new Trainer(Options(4, comm)).Fit(net, x, y);
                return State(net);
            });
            for (int r = 0; r < ranks; r++) CollectionAssert.AreEqual(expected, states[r], $"{ranks} ranks, rank {r}");
        }

        // Three ranks (not a power of two: every rank all-gathers the slots and adds the whole tree) and six shards.
        var six = Net();
        new Trainer(Options(6)).Fit(six, x, y);
        var threes = ThreadGroup.Run(3, comm =>
        {
            var net = Net();
            new Trainer(Options(6, comm)).Fit(net, x, y);
            return State(net);
        });
        for (int r = 0; r < 3; r++) CollectionAssert.AreEqual(State(six), threes[r], $"3 ranks, rank {r}");
        CollectionAssert.AreNotEqual(expected, State(six));

        // The shard count is part of the result (BatchNorm's statistics and the additions' order change with it).
        var plain = Net();
        new Trainer(Options(1)).Fit(plain, x, y);
        CollectionAssert.AreNotEqual(expected, State(plain));
    }

    [TestMethod]
    public void ValidationSharedAmongRanksGivesTheSingleProcessMetrics()
    {
        // 21 validation images in batches of 8: three batches (the last of 5) over two and three ranks; early stopping
        // and the best weights follow the validation loss, so it must be the same bits on every rank.
        var (x, y) = Data(24, 6);
        var (vx, vy) = Data(21, 7);
        TrainerOptions Opts(ICommunicator? comm) { var o = Options(2, comm, epochs: 3); o.EarlyStoppingPatience = 1; return o; }
        var single = new Trainer(Opts(null)).Fit(Net(), x, y, vx, vy);
        Assert.IsTrue(single.History.Count >= 2);
        foreach (var r in ThreadGroup.Run(2, comm => new Trainer(Opts(comm)).Fit(Net(), x, y, vx, vy)))
        {
            CollectionAssert.AreEqual(single.History.Select(h => (h.Loss, h.Accuracy, h.ValidationLoss, h.ValidationAccuracy)).ToList(),
                r.History.Select(h => (h.Loss, h.Accuracy, h.ValidationLoss, h.ValidationAccuracy)).ToList());
            Assert.AreEqual(single.BestEpoch, r.BestEpoch);
        }
        var alone = Trainer.Evaluate(Net(), vx, vy, 8);
        foreach (var shared in ThreadGroup.Run(3, comm => Trainer.Evaluate(Net(), vx, vy, 8, comm)))  // a network per rank, as in processes
            Assert.AreEqual(alone, shared);
    }

    [TestMethod]
    public void ShardedGradientIsTheWholeBatchGradient()
    {
        // LeNet-5 has no batch statistics or dropout: a batch's gradient summed over three shards equals the whole batch's up to rounding.
        var (x, y) = Data(9, 2);
        var x1 = new Tensor([9, 1, 12, 12], x.Span[..(9 * 144)].ToArray());
        float[] GradientAfterOneStep(int shards)
        {
            var net = Architectures.LeNet5(1, 12, 12, 4, seed: 4);
            var o = Options(shards, epochs: 1);
            o.BatchSize = 9;
            o.RandomShift = 0;
            o.HorizontalFlip = false;
            new Trainer(o).Fit(net, x1, y);
            return [.. net.Parameters.SelectMany(p => p.Grad.Span.ToArray())];
        }
        var whole = GradientAfterOneStep(1);
        var sharded = GradientAfterOneStep(3);
        float scale = whole.Max(Math.Abs);
        Assert.IsTrue(scale > 0);
        float worst = whole.Zip(sharded, (a, b) => Math.Abs(a - b)).Max();
        Assert.IsTrue(worst <= 1e-5f * scale, $"max |Δ| {worst} vs scale {scale}");
        CollectionAssert.AreNotEqual(whole, GradientAfterOneStep(9), "a different shard count should round differently somewhere");
    }

    [TestMethod]
    public void ResumeWithADifferentRankCountMatchesTheUninterruptedRun()
    {
        var (x, y) = Data(24, 5);
        using var dir = new MLConv.Tests.Data.TempFolder();
        string cp = Path.Combine(dir.Path, "run.ckpt");
        var full = Net();
        new Trainer(Options(2, epochs: 4)).Fit(full, x, y);

        // Two ranks for two epochs (rank 0 writes the checkpoint), then one process for the rest.
        ThreadGroup.Run(2, comm => new Trainer(Options(2, comm, epochs: 2, checkpoint: cp)).Fit(Net(), x, y));
        var resumed = Net();
        new Trainer(Options(2, epochs: 4)).Fit(resumed, x, y, resumeFrom: cp);
        CollectionAssert.AreEqual(State(full), State(resumed));

        // One process for two epochs, then two ranks.
        new Trainer(Options(2, epochs: 2, checkpoint: cp)).Fit(Net(), x, y);
        var states = ThreadGroup.Run(2, comm =>
        {
            var net = Net();
            new Trainer(Options(2, comm, epochs: 4)).Fit(net, x, y, resumeFrom: cp);
            return State(net);
        });
        CollectionAssert.AreEqual(State(full), states[0]);
        CollectionAssert.AreEqual(State(full), states[1]);

        // The shard count is part of the run.
        var e = Assert.ThrowsExactly<InvalidDataException>(() => new Trainer(Options(4, epochs: 4)).Fit(Net(), x, y, resumeFrom: cp));
        StringAssert.Contains(e.Message, "gradientShards");
    }

    [TestMethod]
    public void ShardCountMustSuitTheRanksAndTheBatch()
    {
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Trainer(Options(3, new SizeOnly(2))));
        Assert.AreEqual("GradientShards", e.ParamName);
        StringAssert.Contains(e.Message, "multiple of the number of ranks (2)");
        e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Trainer(Options(9)));
        StringAssert.Contains(e.Message, "BatchSize = 8");
        Assert.AreEqual(2, new TrainerOptions { Communicator = new SizeOnly(2) }.EffectiveGradientShards);
    }

    [TestMethod]
    public void AnExceptionOnOneRankAbortsTheJob()
    {
        var comm = new SizeOnly(2);
        var (x, y) = Data(8, 1);
        y[3] = 9;  // out of range: Fit throws before any collective
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Trainer(Options(2, comm)).Fit(Net(), x, y));
        StringAssert.Contains(comm.AbortMessage, "ArgumentOutOfRangeException");
        StringAssert.Contains(comm.AbortMessage, "Label 3 is 9");
    }

    /// <summary>A communicator that only knows its size and records <see cref="Abort"/>.</summary>
    private sealed class SizeOnly(int size) : ICommunicator
    {
        public string AbortMessage { get; private set; } = "";
        public int Rank => 0;
        public int Size => size;
        public void Barrier() => throw new NotSupportedException();
        public void Broadcast(Span<float> data, int root) => throw new NotSupportedException();
        public void AllReduceSum(Span<float> data) => throw new NotSupportedException();
        public IPendingOperation StartAllReduceSum(Memory<float> data) => throw new NotSupportedException();
        public void AllGather(ReadOnlySpan<float> mine, Span<float> all) => throw new NotSupportedException();
        public IPendingOperation StartAllGather(ReadOnlyMemory<float> mine, Memory<float> all) => throw new NotSupportedException();
        public void SendReceive(ReadOnlySpan<float> send, int destination, Span<float> receive, int source) => throw new NotSupportedException();
        public void Abort(string message, int errorCode = 1) => AbortMessage = message;
    }
}
