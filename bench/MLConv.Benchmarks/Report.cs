using System.Globalization;
using System.Text;

namespace MLConv.Benchmarks;

/// <summary>
/// One benchmark case: median seconds per operation of MLConv and of its peer (libtorch, or ONNX Runtime for
/// whole-network inference), plus a throughput metric. For GFLOP/s rows <see cref="PeakShare"/> is MLConv's share of the
/// measured all-thread FMA peak.
/// </summary>
public sealed record Row(string Section, string Case, Stats MLConv, Stats Torch, string Unit, double WorkPerOp, string Peer = "libtorch", double Bytes = 0)
{
    /// <summary>Arithmetic intensity: FLOPs per byte of the least memory traffic the operation needs (0 when unknown).</summary>
    public double Intensity => Bytes > 0 && Unit == "GFLOP/s" ? WorkPerOp * 1e9 / Bytes : 0;
    /// <summary>MLConv time / peer time (> 1: MLConv slower).</summary>
    public double Ratio => MLConv.Median / Torch.Median;
    public double MlMetric => WorkPerOp / MLConv.Median;
    public double ThMetric => WorkPerOp / Torch.Median;
    public double PeakShare(double metric) => Unit == "GFLOP/s" && Peak.AllThreadsGflops > 0 ? metric / Peak.AllThreadsGflops : double.NaN;
}

public sealed class Report
{
    private readonly List<Row> _rows = [];
    private readonly List<string[]> _peaks = [];
    public List<string> Checks { get; } = [];

    /// <summary>Print every sample (ms) of each case.</summary>
    public static bool PrintSamples { get; set; }

    public void Add(Row row)
    {
        _rows.Add(row);
        if (PrintSamples)
            Console.WriteLine($"    samples ms: MLConv [{string.Join(", ", row.MLConv.Samples.Select(v => Ms(v)))}]  {row.Peer} [{string.Join(", ", row.Torch.Samples.Select(v => Ms(v)))}]");
        Console.WriteLine($"  {row.Section,-12} {row.Case,-50} MLConv {Ms(row.MLConv.Median),9} ms  {row.Peer} {Ms(row.Torch.Median),9} ms  " +
                          $"ratio {row.Ratio,6:F2}  ({row.Unit}: {Metric(row.MlMetric),8} vs {Metric(row.ThMetric),8}{PeakText(row)}; IQR/median {row.MLConv.Spread:P0}/{row.Torch.Spread:P0})");
    }

    private static string PeakText(Row r)
    {
        double a = r.PeakShare(r.MlMetric), b = r.PeakShare(r.ThMetric);
        return double.IsNaN(a) ? "" : $"; peak {a:P0} vs {b:P0}";
    }

    /// <summary>A line of the FMA peak table.</summary>
    public void Peak(string name, int threads, double oneThread, double allThreads)
    {
        var cells = threads == 0 ? new[] { name, "", "", "" }
            : [name, Metric(oneThread), Metric(allThreads), threads.ToString(CultureInfo.InvariantCulture)];
        _peaks.Add(cells);
        Console.WriteLine(threads == 0 ? $"  {name}" : $"  FMA peak {name}: 1 thread {Metric(oneThread)} GFLOP/s, {threads} threads {Metric(allThreads)} GFLOP/s");
    }

    public string PeaksMarkdown()
    {
        if (_peaks.Count == 0) return "";
        var sb = new StringBuilder();
        sb.AppendLine("| FMA loop | 1 thread GFLOP/s | all threads GFLOP/s | threads |");
        sb.AppendLine("|---|---:|---:|---:|");
        foreach (var p in _peaks) sb.AppendLine("| " + string.Join(" | ", p) + " |");
        sb.AppendLine();
        if (Benchmarks.Peak.AllThreadsBandwidth > 0)
        {
            sb.AppendLine("| Memory (triad a = b + s·c over 3 × 64 MiB) | 1 thread GB/s | all threads GB/s | ridge point (FLOP/byte) |");
            sb.AppendLine("|---|---:|---:|---:|");
            sb.AppendLine($"| streaming | {Metric(Benchmarks.Peak.OneThreadBandwidth)} | {Metric(Benchmarks.Peak.AllThreadsBandwidth)} | {Benchmarks.Peak.AllThreadsGflops / Benchmarks.Peak.AllThreadsBandwidth:F1} |");
            sb.AppendLine();
        }
        return sb.ToString();
    }

    /// <summary>
    /// The roofline of every row with a known intensity: bound = min(FMA peak, intensity × memory bandwidth), all threads,
    /// and how much of it MLConv and its peer reach. A row far below a compute-bound roof is limited by its kernel, not the
    /// machine.
    /// </summary>
    public string RooflineMarkdown()
    {
        var rows = _rows.Where(r => r.Intensity > 0).ToList();
        if (rows.Count == 0 || Benchmarks.Peak.AllThreadsBandwidth <= 0 || Benchmarks.Peak.AllThreadsGflops <= 0) return "";
        double peak = Benchmarks.Peak.AllThreadsGflops, bw = Benchmarks.Peak.AllThreadsBandwidth;
        var sb = new StringBuilder();
        sb.AppendLine($"FMA peak {Metric(peak)} GFLOP/s, triad bandwidth {Metric(bw)} GB/s (all threads): ridge point {peak / bw:F1} FLOP/byte. " +
                      "Intensity = FLOPs / bytes of the least traffic (every input read once, every output written once).");
        sb.AppendLine();
        sb.AppendLine("| Section | Case | FLOP/byte | bound | roof GFLOP/s | MLConv % of roof | peer % of roof |");
        sb.AppendLine("|---|---|---:|---|---:|---:|---:|");
        foreach (var r in rows)
        {
            double roof = Math.Min(peak, r.Intensity * bw);
            sb.AppendLine($"| {r.Section} | {r.Case} | {r.Intensity:F1} | {(r.Intensity * bw < peak ? "memory" : "compute")} | {Metric(roof)} | {r.MlMetric / roof:P0} | {r.ThMetric / roof:P0} |");
        }
        sb.AppendLine();
        return sb.ToString();
    }

    /// <summary>The roofline rows as (case, intensity, MLConv GFLOP/s, peer GFLOP/s), for the figure.</summary>
    public IReadOnlyList<(string Case, double Intensity, double MLConv, double Peer)> RooflinePoints() =>
        [.. _rows.Where(r => r.Intensity > 0).Select(r => ($"{r.Section} {r.Case}", r.Intensity, r.MlMetric, r.ThMetric))];

    private readonly List<(string Name, List<(string Part, double Fwd, double Bwd)> Lines)> _breakdowns = [];

    public void AddBreakdown(string name, List<(string Part, double Fwd, double Bwd)> lines)
    {
        _breakdowns.Add((name, lines));
        Console.Write(BreakdownText(name, lines));
    }

    private static string BreakdownText(string name, List<(string Part, double Fwd, double Bwd)> lines)
    {
        double total = lines.Sum(l => l.Fwd + l.Bwd);
        int w = lines.Max(l => l.Part.Length);
        var sb = new StringBuilder();
        sb.Append($"MLConv step breakdown, {name} (median ms of 15 steps; sum {total:F2} ms)\n");
        sb.Append($"  {"part".PadRight(w)}  {"fwd ms",8}  {"bwd ms",8}  {"share",6}\n");
        foreach (var (part, f, b) in lines)
            sb.Append($"  {part.PadRight(w)}  {f,8:F3}  {b,8:F3}  {(f + b) / total,6:P0}\n");
        return sb.ToString();
    }

    private readonly List<(string Name, List<(string Part, double Fwd, double Bwd)> Lines)> _profiles = [];

    /// <summary>An inference breakdown (forward only): printed now; in the markdown report when <paramref name="markdown"/>.</summary>
    public void AddProfile(string name, List<(string Part, double Fwd, double Bwd)> lines, bool markdown)
    {
        double total = lines.Where(l => !l.Part.StartsWith("whole", StringComparison.Ordinal)).Sum(l => l.Fwd);
        int w = lines.Max(l => l.Part.Length);
        var sb = new StringBuilder($"MLConv planned forward, {name} (median ms of 15 forwards; sum {total:F2} ms)\n");
        foreach (var (part, f, _) in lines) sb.Append($"  {part.PadRight(w)}  {f,8:F3}  {f / total,6:P0}\n");
        Console.Write(sb.ToString());
        if (markdown) _profiles.Add((name, lines));
    }

    public string ProfilesMarkdown()
    {
        var sb = new StringBuilder();
        foreach (var (name, lines) in _profiles)
        {
            double total = lines.Where(l => !l.Part.StartsWith("whole", StringComparison.Ordinal)).Sum(l => l.Fwd);
            sb.AppendLine($"### {name} (median of 15 forwards, sum {total:F2} ms)");
            sb.AppendLine();
            sb.AppendLine("| Layers | ms | share |");
            sb.AppendLine("|---|---:|---:|");
            foreach (var (part, f, _) in lines) sb.AppendLine($"| {part} | {f:F3} | {f / total * 100:F0}% |");
            sb.AppendLine();
        }
        return sb.ToString();
    }

    public string BreakdownsPlainText() => string.Concat(_breakdowns.Select(b => BreakdownText(b.Name, b.Lines) + "\n"));

    public string BreakdownsMarkdown()
    {
        var sb = new StringBuilder();
        foreach (var (name, lines) in _breakdowns)
        {
            double total = lines.Sum(l => l.Fwd + l.Bwd);
            sb.AppendLine($"### MLConv step breakdown: {name} (median of 15 steps, sum {total:F2} ms)");
            sb.AppendLine();
            sb.AppendLine("| Part | fwd ms | bwd ms | share |");
            sb.AppendLine("|---|---:|---:|---:|");
            foreach (var (part, f, b) in lines)
                sb.AppendLine($"| {part} | {f:F3} | {b:F3} | {(f + b) / total * 100:F0}% |");
            sb.AppendLine();
        }
        return sb.ToString();
    }

    public void Check(string line)
    {
        Checks.Add(line);
        Console.WriteLine("  check: " + line);
    }

    private static readonly string[] Header = ["Section", "Case", "Peer", "MLConv ms", "Peer ms", "MLConv", "Peer", "Unit", "% FMA peak ML/peer", "Ratio (ML/peer time)", "IQR/median ML/peer"];

    private static bool RightAligned(int column) => column >= 3 && column != 7;

    private IEnumerable<string[]> Cells() => _rows.Select(r => new[]
    {
        r.Section, r.Case, r.Peer, Ms(r.MLConv.Median), Ms(r.Torch.Median), Metric(r.MlMetric), Metric(r.ThMetric), r.Unit,
        double.IsNaN(r.PeakShare(r.MlMetric)) ? "" : $"{r.PeakShare(r.MlMetric) * 100:F0}%/{r.PeakShare(r.ThMetric) * 100:F0}%",
        r.Ratio.ToString("F2", CultureInfo.InvariantCulture) + "x",
        $"{r.MLConv.Spread * 100:F0}%/{r.Torch.Spread * 100:F0}%",
    });

    public string PlainText()
    {
        var rows = Cells().ToList();
        var widths = Header.Select((h, i) => Math.Max(h.Length, rows.Count == 0 ? 0 : rows.Max(r => r[i].Length))).ToArray();
        var sb = new StringBuilder();
        void Line(string[] cells)
        {
            for (int i = 0; i < cells.Length; i++)
            {
                sb.Append(RightAligned(i) ? cells[i].PadLeft(widths[i]) : cells[i].PadRight(widths[i]));
                sb.Append(i + 1 < cells.Length ? "  " : "\n");
            }
        }
        Line(Header);
        Line(widths.Select(w => new string('-', w)).ToArray());
        foreach (var r in rows) Line(r);
        if (_rows.Count > 0)
        {
            var worst = _rows.MaxBy(r => r.Ratio)!;
            sb.Append($"\nFurthest behind: {worst.Section} / {worst.Case}: MLConv takes {worst.Ratio:F2}x {worst.Peer}'s time.\n");
        }
        return sb.ToString();
    }

    public string Markdown()
    {
        var sb = new StringBuilder();
        sb.AppendLine("| " + string.Join(" | ", Header) + " |");
        sb.AppendLine("|" + string.Join("|", Header.Select((_, i) => RightAligned(i) ? "---:" : "---")) + "|");
        foreach (var r in Cells()) sb.AppendLine("| " + string.Join(" | ", r) + " |");
        if (_rows.Count > 0)
        {
            var worst = _rows.MaxBy(r => r.Ratio)!;
            sb.AppendLine();
            sb.AppendLine($"Furthest behind: **{worst.Section} / {worst.Case}**: MLConv takes {worst.Ratio:F2}x {worst.Peer}'s time.");
        }
        return sb.ToString();
    }

    private static string Ms(double seconds) => (seconds * 1000).ToString(seconds * 1000 >= 100 ? "F1" : seconds * 1000 >= 1 ? "F3" : "F4", CultureInfo.InvariantCulture);
    private static string Metric(double v) => v.ToString(v >= 1000 ? "F0" : v >= 10 ? "F1" : "F2", CultureInfo.InvariantCulture);
}
