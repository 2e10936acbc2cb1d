using System.Diagnostics;

namespace MLConv.Benchmarks;

/// <summary>Median-of-repetitions timing of two implementations measured side by side, in the same process.</summary>
public static class Timing
{
    public static int Repetitions { get; set; } = 9;
    public static int WarmupRuns { get; set; } = 2;
    public static double WarmupSeconds { get; set; } = 0.4;
    /// <summary>Each timed sample loops the operation until about this long (short kernels are repeated).</summary>
    public static double TargetSampleMs { get; set; } = 100;

    /// <summary>
    /// Warms both up, picks an inner loop count per implementation so a sample lasts about
    /// <see cref="TargetSampleMs"/>, then takes <see cref="Repetitions"/> samples of each, alternating
    /// (MLConv, libtorch, MLConv, ...) with a short pause in between so that the spinning worker threads
    /// of one runtime (OpenMP, .NET thread pool) have gone idle before the other starts; samples during which
    /// other processes were busy are retaken.
    /// Returns the median seconds per operation of each.
    /// </summary>
    public static (Stats MLConv, Stats Torch) Compare(Action mlconv, Action torch)
    {
        int innerMl = Calibrate(mlconv), innerTh = Calibrate(torch);
        var ml = new double[Repetitions];
        var th = new double[Repetitions];
        for (int r = 0; r < Repetitions; r++)
        {
            ml[r] = QuietSample(mlconv, innerMl);
            th[r] = QuietSample(torch, innerTh);
        }
        return (new Stats(ml), new Stats(th));
    }

    /// <summary>One implementation alone: one warm-up run, then <paramref name="samples"/> quiet samples of one run each.</summary>
    public static Stats Single(Action op, int samples)
    {
        op();
        var t = new double[samples];
        for (int r = 0; r < samples; r++) t[r] = QuietSample(op, 1);
        return new Stats(t);
    }

    private static int Calibrate(Action op)
    {
        // Warm-up: at least WarmupRuns runs and at least WarmupSeconds, so tiered JIT reaches its optimised code.
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < WarmupRuns || sw.Elapsed.TotalSeconds < WarmupSeconds; i++) op();
        double once = QuietSample(op, 1);
        return (int)Math.Clamp(Math.Ceiling(TargetSampleMs / 1000 / Math.Max(once, 1e-7)), 1, 100_000);
    }

    private static double Sample(Action op, int inner)
    {
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < inner; i++) op();
        return sw.Elapsed.TotalSeconds / inner;
    }

    /// <summary>
    /// A sample that counts only if other processes used less than <see cref="MaxOtherCores"/> cores while it ran
    /// (from /proc/stat minus this process's own ticks); otherwise it is retaken, up to <see cref="MaxRetries"/> times.
    /// The machine is shared (builds and tests of other people start at any time).
    /// </summary>
    private static double QuietSample(Action op, int inner)
    {
        for (int attempt = 0; ; attempt++)
        {
            Settle();
            var before = CpuTicks.Read();
            double t = Sample(op, inner);
            double others = CpuTicks.OtherCores(before, CpuTicks.Read());
            if (double.IsNaN(others) || others <= MaxOtherCores) return t;
            if (attempt >= MaxRetries) { ContendedSamples++; return t; }
            RetakenSamples++;
        }
    }

    /// <summary>Most cores other processes may use during a sample for it to count.</summary>
    public static double MaxOtherCores { get; set; } = 0.25;
    public static int MaxRetries { get; set; } = 30;
    /// <summary>Samples retaken because other processes were busy.</summary>
    public static int RetakenSamples { get; private set; }
    /// <summary>Samples kept although other processes were busy (retries exhausted).</summary>
    public static int ContendedSamples { get; private set; }

    /// <summary>Pause so the spinning worker threads of the other runtime go idle; waits (up to 20 s) for other processes to go quiet.</summary>
    private static void Settle()
    {
        Thread.Sleep(10);
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed.TotalSeconds < 20)
        {
            var a = CpuTicks.Read();
            Thread.Sleep(50);
            double others = CpuTicks.OtherCores(a, CpuTicks.Read());
            if (double.IsNaN(others) || others <= MaxOtherCores) return;
        }
    }
}

/// <summary>Busy CPU ticks of the whole machine and of this process (Linux /proc).</summary>
internal readonly record struct CpuTicks(long Busy, long Total, long Self)
{
    public static CpuTicks Read()
    {
        try
        {
            var cpu = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries);
            long[] v = [.. cpu.Skip(1).Take(8).Select(long.Parse)];   // user nice system idle iowait irq softirq steal
            long total = v.Sum(), busy = total - v[3] - v[4];
            var stat = File.ReadAllText("/proc/self/stat");
            var f = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            long self = long.Parse(f[11]) + long.Parse(f[12]);       // utime + stime
            return new CpuTicks(busy, total, self);
        }
        catch (Exception e) when (e is IOException or FormatException or UnauthorizedAccessException)
        {
            return new CpuTicks(-1, -1, -1);
        }
    }

    /// <summary>Average cores used by other processes between two readings (NaN when unknown).</summary>
    public static double OtherCores(CpuTicks a, CpuTicks b)
    {
        if (a.Total < 0 || b.Total < 0 || b.Total <= a.Total) return double.NaN;
        double elapsedPerCpu = (double)(b.Total - a.Total) / Environment.ProcessorCount;
        long others = (b.Busy - a.Busy) - (b.Self - a.Self);
        return Math.Max(0, others) / elapsedPerCpu;
    }
}

public sealed class Stats
{
    public Stats(double[] samples)
    {
        Samples = [.. samples.Order()];
        int n = Samples.Length;
        Median = n % 2 == 1 ? Samples[n / 2] : (Samples[n / 2 - 1] + Samples[n / 2]) / 2;
    }

    public double[] Samples { get; }
    /// <summary>Median seconds per operation.</summary>
    public double Median { get; }
    public double Min => Samples[0];
    public double Max => Samples[^1];
    /// <summary>Interquartile range / median, a noise indicator.</summary>
    public double Spread => (Samples[(3 * (Samples.Length - 1) + 2) / 4] - Samples[(Samples.Length - 1) / 4]) / Median;
}
