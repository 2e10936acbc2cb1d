using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using MLConv.Training.Kernels;

namespace MLConv.Benchmarks;

/// <summary>
/// The machine's FP32 FMA peak as a .NET loop reaches it: 12 independent accumulator chains of fused multiply-adds on
/// Vector512 and Vector256 registers (no memory traffic), on 1 thread and on every benchmark thread at once. The GEMM and
/// convolution rows are given as a percentage of the best all-thread figure.
/// </summary>
public static class Peak
{
    /// <summary>Best all-thread GFLOP/s measured (0 before <see cref="Measure"/>).</summary>
    public static double AllThreadsGflops { get; private set; }

    /// <summary>Best 1-thread GFLOP/s measured.</summary>
    public static double OneThreadGflops { get; private set; }

    /// <summary>Best 1-thread streaming bandwidth (GB/s) of the triad loop.</summary>
    public static double OneThreadBandwidth { get; private set; }

    /// <summary>Best all-thread streaming bandwidth (GB/s) of the triad loop, each thread on its own third of the arrays.</summary>
    public static double AllThreadsBandwidth { get; private set; }

    /// <summary>
    /// Memory bandwidth as a streaming kernel sees it: a = b + s·c over three 64 MiB arrays (well past the last-level
    /// cache), 12 bytes moved per element (write-allocate traffic not counted, as STREAM does); 1 thread and all threads.
    /// </summary>
    public static void MeasureBandwidth(Report report, int threads)
    {
        const int n = 16 << 20;
        var a = new float[n]; var b = new float[n]; var c = new float[n];
        b.AsSpan().Fill(1f); c.AsSpan().Fill(2f); a.AsSpan().Fill(0f);
        void Part(int t, int parts)
        {
            int per = n / parts, lo = t * per, len = t == parts - 1 ? n - lo : per;
            System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(c.AsSpan(lo, len), 0.5f, b.AsSpan(lo, len), a.AsSpan(lo, len));
        }
        Part(0, 1);
        double one = Best(() => Part(0, 1));
        double all = Best(() =>
        {
            if (threads == 1) { Part(0, 1); return; }
            var ts = new Thread[threads];
            for (int t = 0; t < threads; t++) { int id = t; ts[t] = new Thread(() => Part(id, threads)) { IsBackground = true }; ts[t].Start(); }
            foreach (var t in ts) t.Join();
        });
        OneThreadBandwidth = 12.0 * n / one / 1e9;
        AllThreadsBandwidth = 12.0 * n / all / 1e9;
        Console.WriteLine($"  Memory triad: 1 thread {OneThreadBandwidth:F1} GB/s, {threads} threads {AllThreadsBandwidth:F1} GB/s");
    }

    public static void Measure(Report report, int threads)
    {
        Console.WriteLine("FP32 FMA peak (12 accumulator chains, no memory traffic)");
        const long iters = 4_000_000;
        foreach (var (name, accel, flopsPerIter, loop) in new (string, bool, double, Func<long, float>)[]
        {
            ("Vector512", Vector512.IsHardwareAccelerated, 12.0 * 16 * 2, Loop512),
            ("Vector256", Vector256.IsHardwareAccelerated, 12.0 * 8 * 2, Loop256),
        })
        {
            if (!accel) { report.Peak($"{name}: not hardware-accelerated on this machine", 0, 0, 0); continue; }
            loop(1000); // JIT
            double one = Best(() => loop(iters)), all = Best(() => OnAllThreads(threads, () => loop(iters)));
            double g1 = flopsPerIter * iters / one / 1e9, gAll = flopsPerIter * iters * threads / all / 1e9;
            report.Peak(name, threads, g1, gAll);
            OneThreadGflops = Math.Max(OneThreadGflops, g1);
            AllThreadsGflops = Math.Max(AllThreadsGflops, gAll);
        }
    }

    /// <summary>Best (shortest) of 7 quiet samples: a peak is a best case by definition.</summary>
    private static double Best(Action op)
    {
        var s = Timing.Single(op, samples: 7);
        return s.Min;
    }

    private static void OnAllThreads(int threads, Action op)
    {
        if (threads == 1) { op(); return; }
        var ts = new Thread[threads];
        using var go = new ManualResetEventSlim(false);
        for (int t = 0; t < threads; t++) { ts[t] = new Thread(() => { go.Wait(); op(); }) { IsBackground = true }; ts[t].Start(); }
        go.Set();
        foreach (var t in ts) t.Join();
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Loop512(long iters)
    {
        var m = Vector512.Create(0.9999999f);
        var c = Vector512.Create(1e-7f);
        Vector512<float> a0 = Vector512.Create(1f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
        for (long i = 0; i < iters; i++)
        {
            a0 = Vector512.FusedMultiplyAdd(a0, m, c); a1 = Vector512.FusedMultiplyAdd(a1, m, c);
            a2 = Vector512.FusedMultiplyAdd(a2, m, c); a3 = Vector512.FusedMultiplyAdd(a3, m, c);
            a4 = Vector512.FusedMultiplyAdd(a4, m, c); a5 = Vector512.FusedMultiplyAdd(a5, m, c);
            a6 = Vector512.FusedMultiplyAdd(a6, m, c); a7 = Vector512.FusedMultiplyAdd(a7, m, c);
            a8 = Vector512.FusedMultiplyAdd(a8, m, c); a9 = Vector512.FusedMultiplyAdd(a9, m, c);
            a10 = Vector512.FusedMultiplyAdd(a10, m, c); a11 = Vector512.FusedMultiplyAdd(a11, m, c);
        }
        return Vector512.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Loop256(long iters)
    {
        var m = Vector256.Create(0.9999999f);
        var c = Vector256.Create(1e-7f);
        Vector256<float> a0 = Vector256.Create(1f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
        for (long i = 0; i < iters; i++)
        {
            a0 = Vector256.FusedMultiplyAdd(a0, m, c); a1 = Vector256.FusedMultiplyAdd(a1, m, c);
            a2 = Vector256.FusedMultiplyAdd(a2, m, c); a3 = Vector256.FusedMultiplyAdd(a3, m, c);
            a4 = Vector256.FusedMultiplyAdd(a4, m, c); a5 = Vector256.FusedMultiplyAdd(a5, m, c);
            a6 = Vector256.FusedMultiplyAdd(a6, m, c); a7 = Vector256.FusedMultiplyAdd(a7, m, c);
            a8 = Vector256.FusedMultiplyAdd(a8, m, c); a9 = Vector256.FusedMultiplyAdd(a9, m, c);
            a10 = Vector256.FusedMultiplyAdd(a10, m, c); a11 = Vector256.FusedMultiplyAdd(a11, m, c);
        }
        return Vector256.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11);
    }
}
