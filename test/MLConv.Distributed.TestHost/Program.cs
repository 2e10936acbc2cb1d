using System.Diagnostics;
using System.Globalization;
using MLConv.Training.Data;
using MLConv.Training.Distributed;
using MLConv.Training.Fitting;
using MLConv.Training.Kernels;
using MLConv.Training.Models;
using MLConv.Training.Tensors;

// A tiny data-parallel training run for the distributed tests and the scaling figure. Same command alone or under
// mpirun; rank 0 writes the outputs.
//   train --out W [--model plain|bn] [--schedule cosine|step] [--epochs E] [--batch B] [--shards S] [--examples N] [--checkpoint C] [--resume C]
//         [--validation V] [--patience P] [--fail-rank R --fail-after-ms T] [--exit-rank R --exit-after-ms T]
//     W: every weight and buffer as raw little-endian float32 (atomically); C: the trainer's checkpoint.
//   bench --model LeNet5|SimpleCNN [--per-rank-batch b] [--steps n] [--repeats r] [--threads t]
//     one line: ranks, per-step time, images/s (fastest of r runs), the gradient exchange's share of the step
//     (the ordered sum and the exchange, including waiting for the slower rank) and the exchange alone.
//   collectives: every collective of the binding checked on values that tell the ranks apart (exit 1 on a wrong value).
//   comm [--floats n]: the collectives' times alone.
//   not-launched: MpiCommunicator.Initialize() outside mpirun (prints the error, exit code 3).
var args_ = new Args(args);
string mode = args.Length > 0 ? args[0] : "train";
Parallelism.MaxThreads = args_.Int("threads", 1);

if (mode == "not-launched")
{
    try { MpiCommunicator.Initialize(); Console.WriteLine("initialised"); return 0; }
    catch (MpiException e) { Console.Error.WriteLine(e.Message); return 3; }
}

using var context = DistributedContext.FromEnvironment() ?? DistributedContext.Single;
if (mode == "bench") return Bench(context, args_);
if (mode == "comm") return Comm(context, args_);
if (mode == "collectives") return Collectives(context);

string model = args_.String("model", "plain");
int examples = args_.Int("examples", 48);
var (images, labels) = Synthetic(examples, 1, 12, 12, 4, seed: 11);
var net = model == "bn"
    ? Architectures.SimpleCnn(1, 12, 12, 4, widths: [4, 8], hidden: 16, dropout: 0.25, seed: 5)
    : Architectures.LeNet5(1, 12, 12, 4, seed: 5);
var options = new TrainerOptions
{
    Epochs = args_.Int("epochs", 2), BatchSize = args_.Int("batch", 12), GradientShards = args_.Int("shards", 2), Seed = 3,
    LearningRate = 2e-3, Schedule = args_.String("schedule", "cosine") == "step" ? LearningRateSchedule.Step : LearningRateSchedule.Cosine, StepSize = 1, RandomShift = 1, MinLastBatchSize = 1,
    CheckpointPath = args_.StringOrNull("checkpoint"), Communicator = context.Communicator,
};
var cancel = new CancellationTokenSource();
if (args_.Int("fail-rank", -1) == context.Rank) cancel.CancelAfter(args_.Int("fail-after-ms", 0));
if (args_.Int("exit-rank", -1) == context.Rank)
    _ = Task.Delay(args_.Int("exit-after-ms", 0)).ContinueWith(_ => Environment.Exit(7), TaskScheduler.Default);
int validation = args_.Int("validation", 0);
var (vx, vy) = validation > 0 ? Synthetic(validation, 1, 12, 12, 4, seed: 13) : (null, null);
if (args_.StringOrNull("patience") is not null) options.EarlyStoppingPatience = args_.Int("patience", 1);
var result = new Trainer(options).Fit(net, images, labels, vx, vy, cancellationToken: cancel.Token, resumeFrom: args_.StringOrNull("resume"));
if (context.IsRoot && args_.StringOrNull("out") is { } outPath)
{
    var values = net.Parameters.SelectMany(p => p.Value.Span.ToArray())
        .Concat(net.Root.NamedBuffers().SelectMany(b => b.Value.Span.ToArray())).ToArray();
    var bytes = new byte[values.Length * sizeof(float)];
    Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
    AtomicFile.Write(outPath, bytes);
    Console.WriteLine($"{context}: {values.Length} values");
    foreach (var h in result.History)
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"epoch {h.Epoch}: loss {h.Loss:R} accuracy {h.Accuracy:R} validation {h.ValidationLoss:R} {h.ValidationAccuracy:R}"));
    Console.WriteLine($"best epoch {result.BestEpoch}, stopped early: {result.StoppedEarly}");
}
return 0;

static int Bench(DistributedContext context, Args a)
{
    string arch = a.String("model", "LeNet5");
    int perRank = a.Int("per-rank-batch", 32), steps = a.Int("steps", 20), warm = a.Int("warmup", 3), k = context.Size;
    var (c, h, w) = arch == "LeNet5" ? (1, 28, 28) : (3, 32, 32);
    Network Net() => arch == "LeNet5" ? Architectures.LeNet5(c, h, w, 10, seed: 1) : Architectures.SimpleCnn(c, h, w, 10, seed: 1);
    var (x, y) = Synthetic(perRank * k * (steps + warm), c, h, w, 10, seed: 2);
    TrainerOptions Options(int epochs) => new()
    {
        Epochs = epochs, BatchSize = perRank * k, GradientShards = k, Seed = 1, RandomShift = 0, Schedule = LearningRateSchedule.Constant,
        LearningRate = 1e-3, Communicator = context.Communicator,
    };
    var net = Net();
    var (wx, wy) = (Slice(x, 0, perRank * k * warm), y[..(perRank * k * warm)]);
    new Trainer(Options(1)).Fit(net, wx, wy);  // warm-up: JIT, buffers
    var (tx, ty) = (Slice(x, perRank * k * warm, perRank * k * steps), y[(perRank * k * warm)..]);
    // The fastest of a few repeats: the machine is shared, and a rank that is descheduled makes the other wait.
    double best = double.MaxValue, exchange = 0;
    for (int rep = 0; rep < a.Int("repeats", 3); rep++)
    {
        context.Communicator.Barrier();
        var clock = Stopwatch.StartNew();
        var r = new Trainer(Options(1)).Fit(net, tx, ty);
        double seconds = clock.Elapsed.TotalSeconds;
        if (seconds < best) (best, exchange) = (seconds, r.ReductionTime.TotalSeconds);
    }
    // The exchange alone: at K = 2 the trainer's tree exchange is two MPI_Sendrecv of half a slot (gradients + batch-norm
    // buffers + 2) each way; other K, an all-gather of a slot. Fastest of 10, the ranks in step.
    int slot = (int)net.ParameterCount + net.Root.NamedBuffers().Sum(b => b.Value.Length) + 2;
    float[] buffer = new float[slot], received = new float[slot * k];
    double alone = double.MaxValue;
    for (int i = 0; i < 10 && k > 1; i++)
    {
        context.Communicator.Barrier();
        var clock = Stopwatch.StartNew();
        if (k == 2)
        {
            int half = slot / 2, partner = context.Rank ^ 1;
            context.Communicator.SendReceive(buffer.AsSpan(0, half), partner, received.AsSpan(0, half), partner);
            context.Communicator.SendReceive(buffer.AsSpan(0, half), partner, received.AsSpan(0, half), partner);
        }
        else context.Communicator.AllGather(buffer, received);
        alone = Math.Min(alone, clock.Elapsed.TotalSeconds);
    }
    if (k == 1) alone = 0;
    double step = best / steps;
    if (context.IsRoot)
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{arch}: ranks {k}, threads/rank {Parallelism.MaxThreads}, batch {perRank}/rank ({perRank * k} global), params {net.ParameterCount:N0} " +
            $"({net.ParameterCount * 4.0 / 1e6:F2} MB): step {step * 1e3:F1} ms, {perRank * k / step:F0} images/s, " +
            $"gradient exchange {exchange / best:P1} of the step ({exchange * 1e3 / steps:F2} ms/step; the exchange alone {alone * 1e3:F2} ms)"));
    return 0;
}

static int Collectives(DistributedContext context)
{
    // Every collective of the binding once, with values that tell the ranks apart; prints what differs and exits 1.
    var comm = context.Communicator;
    int k = comm.Size, r = comm.Rank;
    var failures = new List<string>();
    void Expect(string what, ReadOnlySpan<float> actual, Func<int, float> expected)
    {
        for (int i = 0; i < actual.Length; i++)
            if (actual[i] != expected(i)) { failures.Add($"{what}: [{i}] = {actual[i]}, expected {expected(i)}"); return; }
    }
    const int n = 1000;
    float[] v = [.. Enumerable.Range(0, n).Select(i => (float)(i + 1000 * r))];
    comm.Barrier();
    var b = (float[])v.Clone();
    comm.Broadcast(b, k - 1);
    Expect("Broadcast from the last rank", b, i => i + 1000 * (k - 1));
    var sum = (float[])v.Clone();
    comm.AllReduceSum(sum);
    Expect("AllReduceSum", sum, i => k * i + 1000 * k * (k - 1) / 2);
    var started = (float[])v.Clone();
    var op = comm.StartAllReduceSum(started);
    while (!op.Test()) { }
    op.Wait();
    Expect("StartAllReduceSum", started, i => k * i + 1000 * k * (k - 1) / 2);
    var all = new float[n * k];
    comm.AllGather(v, all);
    Expect("AllGather", all, i => i % n + 1000 * (i / n));
    var all2 = new float[n * k];
    comm.StartAllGather(v, all2).Wait();
    Expect("StartAllGather", all2, i => i % n + 1000 * (i / n));
    int next = (r + 1) % k, previous = (r + k - 1) % k;
    var got = new float[n];
    comm.SendReceive(v, next, got, previous);
    Expect("SendReceive around the ring", got, i => i + 1000 * previous);
    foreach (var f in failures) Console.Error.WriteLine($"rank {r}: {f}");
    if (context.IsRoot && failures.Count == 0) Console.WriteLine($"collectives: all correct on {k} ranks ({context})");
    return failures.Count == 0 ? 0 : 1;
}

static int Comm(DistributedContext context, Args a)
{
    // The collectives alone on n floats: fastest of 20, the ranks in step.
    int n = a.Int("floats", 61_706);
    var comm = context.Communicator;
    float[] v = new float[n], all = new float[n * comm.Size], half = new float[(n + 1) / 2];
    double Time(Action op)
    {
        double best = double.MaxValue;
        for (int i = 0; i < 20; i++)
        {
            comm.Barrier();
            var clock = Stopwatch.StartNew();
            op();
            best = Math.Min(best, clock.Elapsed.TotalSeconds);
        }
        return best * 1e3;
    }
    int partner = comm.Rank ^ 1;
    double ag = Time(() => comm.AllGather(v, all)), ar = Time(() => comm.AllReduceSum(v));
    double sr = comm.Size == 2 ? Time(() => comm.SendReceive(v.AsSpan(0, half.Length), partner, half, partner)) : double.NaN;
    if (context.IsRoot)
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{n} floats, {comm.Size} ranks: all-gather {ag:F3} ms, all-reduce {ar:F3} ms, send-receive of half {sr:F3} ms"));
    return 0;
}

static Tensor Slice(Tensor x, int start, int count)
{
    int sample = x.C * x.H * x.W;
    return new Tensor([count, x.C, x.H, x.W], x.Span.Slice(start * sample, count * sample).ToArray());
}

static (Tensor X, int[] Y) Synthetic(int n, int c, int h, int w, int classes, int seed)
{
    // Class k: a bright k-th quadrant on noise, so that training learns something (pixels in [0, 1]).
    var rng = new Random(seed);
    var x = new Tensor(n, c, h, w);
    var y = new int[n];
    for (int i = 0; i < n; i++)
    {
        int k = y[i] = i % classes;
        for (int ch = 0; ch < c; ch++)
        for (int r = 0; r < h; r++)
        for (int col = 0; col < w; col++)
        {
            bool lit = (r < h / 2 ? 0 : 2) + (col < w / 2 ? 0 : 1) == k % 4;
            x.Data[((i * c + ch) * h + r) * w + col] = (float)((lit ? 0.6 : 0.1) + 0.3 * rng.NextDouble());
        }
    }
    return (x, y);
}

internal sealed class Args(string[] args)
{
    public string? StringOrNull(string name)
    {
        int i = Array.IndexOf(args, "--" + name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    public string String(string name, string fallback) => StringOrNull(name) ?? fallback;
    public int Int(string name, int fallback) => StringOrNull(name) is { } s ? int.Parse(s, CultureInfo.InvariantCulture) : fallback;
}
