using System.Globalization;
using System.Text;
using MLConv.Benchmarks;
using MLConv.Training.Kernels;
using static TorchSharp.torch;

CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;

int threads = Environment.ProcessorCount;
string? outPath = null;
bool simpleCnn = true, quick = false;
int convBatch = 8, trainBatch = 8;
var only = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
for (int i = 0; i < args.Length; i++)
{
    string a = args[i];
    string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{a} needs a value.");
    switch (a)
    {
        case "--threads" or "-t": threads = int.Parse(Next(), CultureInfo.InvariantCulture); break;
        case "--reps": Timing.Repetitions = int.Parse(Next(), CultureInfo.InvariantCulture); break;
        case "--warmup": Timing.WarmupRuns = int.Parse(Next(), CultureInfo.InvariantCulture); break;
        case "--sample-ms": Timing.TargetSampleMs = double.Parse(Next(), CultureInfo.InvariantCulture); break;
        case "--max-other-cores": Timing.MaxOtherCores = double.Parse(Next(), CultureInfo.InvariantCulture); break;
        case "--out": outPath = Next(); break;
        case "--no-simplecnn": simpleCnn = false; break;
        case "--quick": quick = true; break;
        case "--case": Benches.CaseFilter = Next(); break;
        case "--noisy": Timing.MaxOtherCores = double.PositiveInfinity; break;
        case "--conv-batch": convBatch = int.Parse(Next(), CultureInfo.InvariantCulture); break;
        case "--train-batch": trainBatch = int.Parse(Next(), CultureInfo.InvariantCulture); break;
        case "--samples": Report.PrintSamples = true; break;
        case "--profile": Inference.Profile = true; break;
        case "--only": foreach (var s in Next().Split(',')) only.Add(s.Trim()); break;
        case "--help" or "-h":
            Console.WriteLine("""
                MLConv vs libtorch (TorchSharp-cpu) benchmarks. Usage: bash bench/run.sh [options]
                  --threads N     threads for both MLConv (Parallelism.MaxThreads) and libtorch (set_num_threads); default: processor count
                  --reps N        timed repetitions per case (median reported); default 9
                  --warmup N      warm-up runs per case; default 2
                  --sample-ms X   a timed sample repeats short operations to last about X ms; default 100
                  --max-other-cores X  retake a sample when other processes used more than X cores during it; default 0.25
                  --only LIST     comma-separated groups: peak, gemm, conv, other, train, bignets, infer, scoring
                                  (default: all; gemm and conv rows report % of the FMA peak only when peak runs too;
                                  train = LeNet-5 and SimpleCNN steps, bignets = ResNet-18 and MobileNetV2 224 px steps)
                  --quick         ~10 min on 2 cores: 5 reps, 1 warm-up, 40 ms samples, no per-layer breakdowns, no ResNet-50
                  --noisy         never retake a sample when other processes are busy (a shared machine; ratios still
                                  come from interleaved samples in one run)
                  --conv-batch N  batch of the 224 px convolution layers; default 8
                  --train-batch N batch of the ResNet-18 / MobileNetV2 training steps; default 8
                  --case TEXT     only GEMM and convolution cases whose name contains TEXT
                  --no-simplecnn  skip the SimpleCNN training step
                  --samples       print every timed sample
                  --profile       infer: time every node of each planned forward (always on without --quick)
                  --out PATH      markdown report; default bench/results.md under the repository root
                """);
            return 0;
        default: throw new ArgumentException($"Unknown option '{a}' (see --help).");
    }
}
if (!quick) Inference.Profile = true;
if (quick)
{
    if (!args.Contains("--reps")) Timing.Repetitions = 5;
    if (!args.Contains("--warmup")) Timing.WarmupRuns = 1;
    if (!args.Contains("--sample-ms")) Timing.TargetSampleMs = 40;
    Timing.WarmupSeconds = 0.2;
}
if (threads < 1) throw new ArgumentOutOfRangeException(nameof(threads), threads, "--threads must be >= 1.");
bool Run(string section) => only.Count == 0 || only.Contains(section);

// Same thread count for both libraries.
Parallelism.MaxThreads = threads;
ThreadPool.GetMinThreads(out int minWorkers, out int minIo);
ThreadPool.SetMinThreads(Math.Max(minWorkers, threads), minIo);
set_num_threads(threads);

string cpu = CpuModel();
string torchVersion = typeof(TorchSharp.torch).Assembly.GetName().Version?.ToString() ?? "?";
string libtorchVersion = LibTorchVersion();
string command = Environment.GetEnvironmentVariable("MLCONV_BENCH_COMMAND")
    ?? "dotnet MLConv.Benchmarks.dll " + string.Join(' ', args);
var started = DateTime.UtcNow;
string loadBefore = LoadAverage();

Console.WriteLine($"MLConv vs libtorch — threads {threads} (MLConv MaxThreads {Parallelism.MaxThreads}, libtorch get_num_threads {get_num_threads()}), " +
                  $"{Timing.Repetitions} reps (median), {Timing.WarmupRuns} warm-up");
Console.WriteLine($"CPU: {cpu}, {Environment.ProcessorCount} logical cores; .NET {Environment.Version}; TorchSharp {torchVersion}, libtorch {libtorchVersion}");
Console.WriteLine($"Load average before: {loadBefore} (other processes on these cores distort both sides, libtorch's OpenMP barriers the most)");
Console.WriteLine();

var report = new Report();
string repoRoot = RepoRoot();
if (Run("peak")) { Peak.Measure(report, threads); Peak.MeasureBandwidth(report, threads); }
if (Run("gemm")) Benches.Gemm(report);
if (Run("conv")) Benches.Conv(report, convBatch);
if (Run("infer")) Inference.Run(report, threads, repoRoot, quick);
if (Run("scoring")) Scoring.Run(report, repoRoot);
if (Run("other")) Benches.Other(report);
if (Run("train") || Run("bignets")) Benches.Train(report, simpleCnn && Run("train"), Run("bignets"), trainBatch, breakdowns: !quick, small: Run("train"));

string loadAfter = LoadAverage();
Console.WriteLine();
Console.WriteLine(report.PlainText());
Console.Write(report.BreakdownsPlainText());
Console.WriteLine($"Load average before/after: {loadBefore} / {loadAfter}; wall time {(DateTime.UtcNow - started).TotalSeconds:F0} s; " +
                  $"samples retaken because other processes were busy: {Timing.RetakenSamples}, kept under load after {Timing.MaxRetries} retries: {Timing.ContendedSamples}");

outPath ??= Path.Combine(repoRoot, "bench", "results.md");
var md = new StringBuilder();
md.AppendLine("# MLConv vs libtorch (TorchSharp-cpu) and ONNX Runtime benchmark results");
md.AppendLine();
md.AppendLine($"- Command: `{command}`");
md.AppendLine($"- Date: {started:yyyy-MM-dd HH:mm} UTC");
md.AppendLine($"- MLConv sources: {Environment.GetEnvironmentVariable("MLCONV_BENCH_COMMIT") ?? "unknown commit"}");
md.AppendLine($"- Threads: {threads} (MLConv `Parallelism.MaxThreads` = {Parallelism.MaxThreads}, libtorch `get_num_threads()` = {get_num_threads()})");
md.AppendLine($"- CPU: {cpu} ({Environment.ProcessorCount} logical cores)");
md.AppendLine($"- Runtime: .NET {Environment.Version}, TorchSharp {torchVersion}, libtorch {libtorchVersion} (CPU)");
md.AppendLine($"- Load average (1/5/15 min) before / after: {loadBefore} / {loadAfter}; wall time {(DateTime.UtcNow - started).TotalSeconds:F0} s");
md.AppendLine($"- Samples retaken because other processes used > {Timing.MaxOtherCores} cores during them: {Timing.RetakenSamples}; kept under load after {Timing.MaxRetries} retries: {Timing.ContendedSamples}");
md.AppendLine($"- Method: median of {Timing.Repetitions} timed samples after {Timing.WarmupRuns} warm-up runs (and >= {Timing.WarmupSeconds} s); each sample repeats the operation for ~{Timing.TargetSampleMs} ms; MLConv and libtorch samples alternate in the same process; a sample during which other processes were busy is retaken.");
md.AppendLine("- **ratio = MLConv time / peer time** (> 1: MLConv is slower by that factor); the peer is libtorch, ONNX Runtime (whole-network inference) or ML.NET's scoring chain.");
md.AppendLine($"- Timing mode: {(quick ? "--quick" : "full")}; samples retaken when other processes were busy: {(double.IsPositiveInfinity(Timing.MaxOtherCores) ? "no (--noisy)" : "yes")}.");
md.AppendLine();
if (Run("peak"))
{
    md.AppendLine("## FP32 FMA peak");
    md.AppendLine();
    md.Append(report.PeaksMarkdown());
}
md.AppendLine("## MLConv vs peers");
md.AppendLine();
md.Append(report.Markdown());
md.AppendLine();
string roofline = report.RooflineMarkdown();
if (roofline.Length > 0)
{
    string figure = Path.ChangeExtension(outPath, null) + "-roofline.png";
    RooflineFigure.Write(report.RooflinePoints(), Peak.AllThreadsGflops, Peak.AllThreadsBandwidth,
        $"Convolutions, {threads} thread(s), {started:yyyy-MM-dd}: MLConv vs libtorch against the roofline", figure);
    md.AppendLine("## Roofline");
    md.AppendLine();
    md.AppendLine($"![roofline]({Path.GetFileName(figure)})");
    md.AppendLine();
    md.Append(roofline);
}
md.AppendLine("## Where MLConv's training step spends its time");
md.AppendLine();
md.Append(report.BreakdownsMarkdown());
if (Run("infer") && Inference.Profile)
{
    md.AppendLine("## Where the planned forward spends its time");
    md.AppendLine();
    md.Append(report.ProfilesMarkdown());
}
md.AppendLine("## Correctness (MLConv vs libtorch on identical inputs/weights)");
md.AppendLine();
foreach (var line in report.Checks) md.AppendLine($"- {line}");
File.WriteAllText(outPath, md.ToString());
Console.WriteLine($"Wrote {Path.GetFullPath(outPath)}");
return 0;

static string CpuModel()
{
    try
    {
        var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
        string model = line is null ? "unknown" : line[(line.IndexOf(':') + 1)..].Trim();
        var flags = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("flags", StringComparison.Ordinal)) ?? "";
        var set = flags.Split(' ', StringSplitOptions.RemoveEmptyEntries).ToHashSet();
        var isa = new[] { "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_bf16", "avx512_vnni" }.Where(set.Contains);
        return $"{model} [{string.Join(", ", isa)}]";
    }
    catch (IOException) { return "unknown"; }
}

static string LoadAverage()
{
    try { return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)); }
    catch (IOException) { return "?"; }
}

static string LibTorchVersion()
{
    // The libtorch-cpu-linux-x64 package version is in the path of the deps file entry; fall back to "?".
    try
    {
        var deps = Directory.GetFiles(AppContext.BaseDirectory, "*.deps.json").FirstOrDefault();
        if (deps is null) return "?";
        var text = File.ReadAllText(deps);
        const string key = "\"libtorch-cpu-linux-x64/";
        int i = text.IndexOf(key, StringComparison.Ordinal);
        if (i < 0) return "?";
        int j = text.IndexOf('"', i + key.Length);
        return text[(i + key.Length)..j];
    }
    catch (IOException) { return "?"; }
}

static string RepoRoot()
{
    for (var d = new DirectoryInfo(Environment.CurrentDirectory); d is not null; d = d.Parent)
        if (File.Exists(Path.Combine(d.FullName, "MLConv.sln"))) return d.FullName;
    for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        if (File.Exists(Path.Combine(d.FullName, "MLConv.sln"))) return d.FullName;
    return Environment.CurrentDirectory;
}
