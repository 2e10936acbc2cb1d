using System.Globalization;
using System.Text;

namespace MLConv.Benchmarks;

/// <summary>One benchmark case: median seconds per operation of both, plus a throughput metric.</summary>
public sealed record Row(string Section, string Case, Stats MLConv, Stats Torch, string Unit, double WorkPerOp)
{
    /// <summary>MLConv time / libtorch time (> 1: MLConv slower).</summary>
    public double Ratio => MLConv.Median / Torch.Median;
    public double MlMetric => WorkPerOp / MLConv.Median;
    public double ThMetric => WorkPerOp / Torch.Median;
}

public sealed class Report
{
    private readonly List<Row> _rows = [];
    public List<string> Checks { get; } = [];

    /// <summary>Print every sample (ms) of each case.</summary>
    public static bool PrintSamples { get; set; }

    public void Add(Row row)
    {
        _rows.Add(row);
        if (PrintSamples)
            Console.WriteLine($"    samples ms: MLConv [{string.Join(", ", row.MLConv.Samples.Select(v => Ms(v)))}]  libtorch [{string.Join(", ", row.Torch.Samples.Select(v => Ms(v)))}]");
        Console.WriteLine($"  {row.Section,-10} {row.Case,-44} MLConv {Ms(row.MLConv.Median),9} ms  libtorch {Ms(row.Torch.Median),9} ms  " +
                          $"ratio {row.Ratio,6:F2}  ({row.Unit}: {Metric(row.MlMetric),8} vs {Metric(row.ThMetric),8}; IQR/median {row.MLConv.Spread:P0}/{row.Torch.Spread:P0})");
    }

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

    private static readonly string[] Header = ["Section", "Case", "MLConv ms", "libtorch ms", "MLConv", "libtorch", "Unit", "Ratio (ML/torch time)", "IQR/median ML/torch"];

    private IEnumerable<string[]> Cells() => _rows.Select(r => new[]
    {
        r.Section, r.Case, Ms(r.MLConv.Median), Ms(r.Torch.Median), Metric(r.MlMetric), Metric(r.ThMetric), r.Unit,
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
                bool right = i >= 2 && i != 6;
                sb.Append(right ? cells[i].PadLeft(widths[i]) : cells[i].PadRight(widths[i]));
                sb.Append(i + 1 < cells.Length ? "  " : "\n");
            }
        }
        Line(Header);
        Line(widths.Select(w => new string('-', w)).ToArray());
        foreach (var r in rows) Line(r);
        if (_rows.Count > 0)
        {
            var worst = _rows.MaxBy(r => r.Ratio)!;
            sb.Append($"\nFurthest behind: {worst.Section} / {worst.Case}: MLConv takes {worst.Ratio:F2}x libtorch's time.\n");
        }
        return sb.ToString();
    }

    public string Markdown()
    {
        var sb = new StringBuilder();
        sb.AppendLine("| " + string.Join(" | ", Header) + " |");
        sb.AppendLine("|" + string.Join("|", Header.Select((_, i) => i >= 2 && i != 6 ? "---:" : "---")) + "|");
        foreach (var r in Cells()) sb.AppendLine("| " + string.Join(" | ", r) + " |");
        if (_rows.Count > 0)
        {
            var worst = _rows.MaxBy(r => r.Ratio)!;
            sb.AppendLine();
            sb.AppendLine($"Furthest behind: **{worst.Section} / {worst.Case}**: MLConv takes {worst.Ratio:F2}x libtorch's time.");
        }
        return sb.ToString();
    }

    private static string Ms(double seconds) => (seconds * 1000).ToString(seconds * 1000 >= 100 ? "F1" : seconds * 1000 >= 1 ? "F3" : "F4", CultureInfo.InvariantCulture);
    private static string Metric(double v) => v.ToString(v >= 1000 ? "F0" : v >= 10 ? "F1" : "F2", CultureInfo.InvariantCulture);
}
