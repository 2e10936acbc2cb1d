using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace MLConv.Training.Kernels;

/// <summary>
/// Direct depthwise convolution (groups = C_in, C_out = m·C_in): output channel co reads only input
/// channel co / m, so im2col + GEMM would run GEMMs of one row; this kernel walks the planes instead.
///   y[n, co, i, j]  = b[co] + Σ_{u,v} w[co, u, v] · x[n, co/m, i·sh − pt + u·dh, j·sw − pl + v·dw]
///   dW[co, u, v]   += Σ_{n,i,j} dy[n, co, i, j] · x[n, co/m, …]
///   dx[n, co/m, …] += Σ_{u,v} w[co, u, v] · dy[n, co, i, j]
/// All three walk the same (output row, tap) pairs; <see cref="Rows"/> enumerates them once.
/// Work is split by plane (forward, dx) and by output channel (dW, a fixed order over n): deterministic.
/// </summary>
public static class DepthwiseConv
{
    /// <summary>What a (tap, output row) pair touches: output row i, input row yy, columns [j0, j1) at input offset dx.</summary>
    private readonly record struct Segment(int Tap, int OutRow, int InRow, int J0, int J1, int Dx);

    /// <summary>Every (tap, output row) pair whose input row is inside the image, with its valid column range.</summary>
    private static Segment[] Rows(in Window2d g, int height, int width, int outH, int outW)
    {
        var list = new List<Segment>();
        for (int u = 0; u < g.KernelH; u++)
        for (int v = 0; v < g.KernelW; v++)
        {
            int dx = v * g.DilationW - g.PadLeft;
            var (j0, j1) = Window2d.Inside(dx, g.StrideW, width, outW);
            if (j1 <= j0) continue;
            for (int i = 0; i < outH; i++)
            {
                int yy = i * g.StrideH - g.PadTop + u * g.DilationH;
                if ((uint)yy < (uint)height) list.Add(new Segment(u * g.KernelW + v, i, yy, j0, j1, dx));
            }
        }
        return [.. list];
    }

    /// <summary>y = W ⋆ x + b per channel; with <paramref name="relu"/>, y = max(·, 0) applied to each plane while it is in cache.</summary>
    public static unsafe void Forward(float[] x, float[] w, float[]? bias, float[] y, int n, int channels, int height, int width,
        int multiplier, Window2d g, int outH, int outW, bool relu = false)
    {
        int cout = channels * multiplier, inPlane = height * width, outPlane = outH * outW, taps = g.KernelH * g.KernelW, sw = g.StrideW;
        var segments = Rows(g, height, width, outH, outW);
        Parallelism.For(n * cout, (long)outPlane * taps, p =>
        {
            int b = p / cout, co = p % cout, ci = co / multiplier;
            fixed (float* px = &x[(b * channels + ci) * inPlane], py = &y[p * outPlane], pw = &w[co * taps])
            {
                new Span<float>(py, outPlane).Fill(bias?[co] ?? 0f);
                foreach (var s in segments)
                    Axpy(pw[s.Tap], px + s.InRow * width + s.Dx, sw, py + s.OutRow * outW, s.J0, s.J1);
                if (relu) System.Numerics.Tensors.TensorPrimitives.Max(new ReadOnlySpan<float>(py, outPlane), 0f, new Span<float>(py, outPlane));
            }
        });
    }

    /// <summary>Accumulates dW (and db) and, when <paramref name="dxOut"/> is given, writes dX.</summary>
    public static unsafe void Backward(float[] x, float[] w, float[] dy, float[] dw, float[]? db, float[]? dxOut, int n, int channels, int height, int width,
        int multiplier, Window2d g, int outH, int outW)
    {
        int cout = channels * multiplier, inPlane = height * width, outPlane = outH * outW, taps = g.KernelH * g.KernelW, sw = g.StrideW;
        var segments = Rows(g, height, width, outH, outW);
        Parallelism.For(cout, (long)n * outPlane * taps, co =>
        {
            int ci = co / multiplier;
            // Per tap: 8 vector lanes and a scalar tail, reduced once at the end (no horizontal sum per row).
            float* lanes = stackalloc float[taps * 8];
            float* tail = stackalloc float[taps];
            new Span<float>(lanes, taps * 8).Clear();
            new Span<float>(tail, taps).Clear();
            for (int b = 0; b < n; b++)
            {
                fixed (float* px = &x[(b * channels + ci) * inPlane], pd = &dy[(b * cout + co) * outPlane])
                {
                    if (db is not null) db[co] += System.Numerics.Tensors.TensorPrimitives.Sum(new ReadOnlySpan<float>(pd, outPlane));
                    foreach (var s in segments)
                        tail[s.Tap] += Dot(px + s.InRow * width + s.Dx, sw, pd + s.OutRow * outW, s.J0, s.J1, lanes + s.Tap * 8);
                }
            }
            for (int t = 0; t < taps; t++)
                dw[co * taps + t] += Vector256.Sum(Vector256.Load(lanes + t * 8)) + tail[t];
        });
        if (dxOut is null) return;
        // dX per input plane: its m output channels, in channel order.
        Parallelism.For(n * channels, (long)multiplier * outPlane * taps, p =>
        {
            int b = p / channels, ci = p % channels;
            fixed (float* pdx = &dxOut[p * inPlane])
            {
                new Span<float>(pdx, inPlane).Clear();
                for (int k = 0; k < multiplier; k++)
                {
                    int co = ci * multiplier + k;
                    fixed (float* pd = &dy[(b * cout + co) * outPlane], pw = &w[co * taps])
                        foreach (var s in segments)
                            ScatterAxpy(pw[s.Tap], pd + s.OutRow * outW, pdx + s.InRow * width + s.Dx, sw, s.J0, s.J1);
                }
            }
        });
    }

    /// <summary>dst[j] += a · src[j·stride] for j in [j0, j1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Axpy(float a, float* src, int stride, float* dst, int j0, int j1)
    {
        int j = j0;
        if (stride == 1)
        {
            var va = Vector256.Create(a);
            for (; j + 8 <= j1; j += 8)
                Vector256.FusedMultiplyAdd(va, Vector256.Load(src + j), Vector256.Load(dst + j)).Store(dst + j);
        }
        for (; j < j1; j++) dst[j] = MathF.FusedMultiplyAdd(a, src[j * stride], dst[j]);
    }

    /// <summary>Σ_j src[j·stride] · d[j] for j in [j0, j1): full 8-wide blocks go into <paramref name="lanes"/>, the rest is returned.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe float Dot(float* src, int stride, float* d, int j0, int j1, float* lanes)
    {
        int j = j0;
        float sum = 0f;
        if (stride == 1 && j + 8 <= j1)
        {
            var acc = Vector256.Load(lanes);
            for (; j + 8 <= j1; j += 8)
                acc = Vector256.FusedMultiplyAdd(Vector256.Load(src + j), Vector256.Load(d + j), acc);
            acc.Store(lanes);
        }
        for (; j < j1; j++) sum = MathF.FusedMultiplyAdd(src[j * stride], d[j], sum);
        return sum;
    }

    /// <summary>dst[j·stride] += a · src[j] for j in [j0, j1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void ScatterAxpy(float a, float* src, float* dst, int stride, int j0, int j1)
    {
        int j = j0;
        if (stride == 1)
        {
            var va = Vector256.Create(a);
            for (; j + 8 <= j1; j += 8)
                Vector256.FusedMultiplyAdd(va, Vector256.Load(src + j), Vector256.Load(dst + j)).Store(dst + j);
        }
        for (; j < j1; j++) dst[j * stride] = MathF.FusedMultiplyAdd(a, src[j], dst[j * stride]);
    }
}
