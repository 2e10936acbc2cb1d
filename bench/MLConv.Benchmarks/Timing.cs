using System.Diagnostics;

namespace MLConv.Benchmarks;

/// <summary>Median-of-repetitions timing of two implementations measured side by side, in the same process.</summary>
public static class Timing
{
    public static int Repetitions { get; set; } = 7;
    public static int WarmupRuns { get; set; } = 2;
    /// <summary>Each timed sample loops the operation until about this long (short kernels are repeated).</summary>
    public static double TargetSampleMs { get; set; } = 60;

    /// <summary>
    /// Warms both up, picks an inner loop count per implementation so a sample lasts about
    /// <see cref="TargetSampleMs"/>, then takes <see cref="Repetitions"/> samples of each, alternating
    /// (MLConv, libtorch, MLConv, ...) with a short pause in between so that the spinning worker threads
    /// of one runtime (OpenMP, .NET thread pool) have gone idle before the other starts.
    /// Returns the median seconds per operation of each.
    /// </summary>
    public static (Stats MLConv, Stats Torch) Compare(Action mlconv, Action torch)
    {
        int innerMl = Calibrate(mlconv), innerTh = Calibrate(torch);
        var ml = new double[Repetitions];
        var th = new double[Repetitions];
        for (int r = 0; r < Repetitions; r++)
        {
            Settle();
            ml[r] = Sample(mlconv, innerMl);
            Settle();
            th[r] = Sample(torch, innerTh);
        }
        return (new Stats(ml), new Stats(th));
    }

    private static int Calibrate(Action op)
    {
        for (int i = 0; i < WarmupRuns; i++) op();
        Settle();
        double once = Sample(op, 1);
        return (int)Math.Clamp(Math.Ceiling(TargetSampleMs / 1000 / Math.Max(once, 1e-7)), 1, 100_000);
    }

    private static double Sample(Action op, int inner)
    {
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < inner; i++) op();
        return sw.Elapsed.TotalSeconds / inner;
    }

    private static void Settle() => Thread.Sleep(15);
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
    /// <summary>(max − min) / median, a crude noise indicator.</summary>
    public double Spread => (Max - Min) / Median;
}
