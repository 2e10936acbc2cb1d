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

    /// <summary>A thread's zero-padded, column-phase-split copy of one input plane (see <see cref="Forward"/>), grown on demand.</summary>
    [ThreadStatic] private static float[]? t_phases;

    /// <summary>
    /// y = W ⋆ x + b per channel; with <paramref name="relu"/>, y = max(·, 0) applied to each row while it is in registers.
    /// Per input plane (one thread each) the plane is copied once, zero-padded, into sw column phases
    /// (phase q, row r, column k holds padded[r, k·sw + q]); output column j of tap column v then reads phase
    /// (v·dw) mod sw at column j + (v·dw) div sw, so every tap of every stride is a contiguous 8-wide load and no edge needs
    /// a test. Each 8-wide block of an output row is accumulated over all taps in registers — bias first, then the taps in
    /// order — and stored once.
    /// </summary>
    public static unsafe void Forward(float[] x, float[] w, float[]? bias, float[] y, int n, int channels, int height, int width,
        int multiplier, Window2d g, int outH, int outW, bool relu = false)
    {
        int cout = channels * multiplier, inPlane = height * width, outPlane = outH * outW, kh = g.KernelH, kw = g.KernelW, taps = kh * kw;
        int sh = g.StrideH, sw = g.StrideW, dh = g.DilationH, dw = g.DilationW;
        const int V = 8;
        int rows = (outH - 1) * sh + (kh - 1) * dh + 1;                       // padded rows read
        int blocksW = (outW + V - 1) / V;
        int phaseW = blocksW * V + (kw - 1) * dw / sw + 1;                    // columns per phase row, room for whole vectors
        int phaseSize = rows * phaseW;
        Parallelism.For(n * channels, (long)multiplier * outPlane * taps, p =>
        {
            int b = p / channels, ci = p % channels;
            var buf = t_phases;
            if (buf is null || buf.Length < sw * phaseSize) t_phases = buf = new float[sw * phaseSize];
            fixed (float* px = &x[p * inPlane], ph = buf)
            {
                // Padded row r is input row r − padTop; padded column k·sw + q is input column k·sw + q − padLeft.
                for (int r = 0; r < rows; r++)
                {
                    int yy = r - g.PadTop;
                    bool inside = (uint)yy < (uint)height;
                    for (int q = 0; q < sw; q++)
                    {
                        float* dst = ph + q * phaseSize + r * phaseW;
                        if (!inside) { new Span<float>(dst, phaseW).Clear(); continue; }
                        float* src = px + yy * width;
                        if (sw == 1)
                        {
                            // Columns [0, phaseW) map to input columns [−padLeft, phaseW − padLeft).
                            int c0 = Math.Min(phaseW, g.PadLeft), c1 = Math.Clamp(width + g.PadLeft, c0, phaseW);
                            new Span<float>(dst, c0).Clear();
                            new ReadOnlySpan<float>(src + c0 - g.PadLeft, c1 - c0).CopyTo(new Span<float>(dst + c0, c1 - c0));
                            new Span<float>(dst + c1, phaseW - c1).Clear();
                        }
                        else
                            for (int k = 0; k < phaseW; k++)
                            {
                                int xx = k * sw + q - g.PadLeft;
                                dst[k] = (uint)xx < (uint)width ? src[xx] : 0f;
                            }
                    }
                }
                // Per tap: its offset in the phase buffer and its weight broadcast (then 8 output blocks at a time, 8 chains of FMAs).
                int* tapOff = stackalloc int[taps];
                for (int u = 0; u < kh; u++)
                for (int v = 0; v < kw; v++)
                {
                    int off = v * dw;
                    tapOff[u * kw + v] = off % sw * phaseSize + u * dh * phaseW + off / sw;
                }
                var wv = stackalloc Vector256<float>[taps];
                int items = outH * blocksW;
                for (int m = 0; m < multiplier; m++)
                {
                    int co = ci * multiplier + m;
                    for (int t = 0; t < taps; t++) wv[t] = Vector256.Create(w[co * taps + t]);
                    var vb = Vector256.Create(bias?[co] ?? 0f);
                    fixed (float* py = &y[(b * cout + co) * outPlane])
                        for (int it = 0; it < items; it += 8)
                            Blocks8(ph, phaseW, blocksW, sh, it, Math.Min(8, items - it), tapOff, wv, taps, vb, relu, py, outW);
                }
            }
        });
    }

    /// <summary>
    /// Output blocks [it, it + count) (block q is output row q / blocksW, columns 8·(q mod blocksW) + [0, 8)), count ≤ 8: eight
    /// independent accumulator chains over the taps (bias first, taps in order), ReLU when asked, stored once (the last
    /// block of a row only up to outW). Missing blocks (count &lt; 8) repeat block it and are not stored.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Blocks8(float* ph, int phaseW, int blocksW, int sh, int it, int count, int* tapOff, Vector256<float>* wv, int taps,
        Vector256<float> bias, bool relu, float* py, int outW)
    {
        float** b = stackalloc float*[8];
        for (int q = 0; q < 8; q++)
        {
            int item = it + (q < count ? q : 0), i = item / blocksW, j0 = item % blocksW * 8;
            b[q] = ph + i * sh * phaseW + j0;
        }
        float* b0 = b[0], b1 = b[1], b2 = b[2], b3 = b[3], b4 = b[4], b5 = b[5], b6 = b[6], b7 = b[7];
        Vector256<float> a0 = bias, a1 = bias, a2 = bias, a3 = bias, a4 = bias, a5 = bias, a6 = bias, a7 = bias;
        for (int t = 0; t < taps; t++)
        {
            var wt = wv[t];
            int o = tapOff[t];
            a0 = Vector256.FusedMultiplyAdd(wt, Vector256.Load(b0 + o), a0);
            a1 = Vector256.FusedMultiplyAdd(wt, Vector256.Load(b1 + o), a1);
            a2 = Vector256.FusedMultiplyAdd(wt, Vector256.Load(b2 + o), a2);
            a3 = Vector256.FusedMultiplyAdd(wt, Vector256.Load(b3 + o), a3);
            a4 = Vector256.FusedMultiplyAdd(wt, Vector256.Load(b4 + o), a4);
            a5 = Vector256.FusedMultiplyAdd(wt, Vector256.Load(b5 + o), a5);
            a6 = Vector256.FusedMultiplyAdd(wt, Vector256.Load(b6 + o), a6);
            a7 = Vector256.FusedMultiplyAdd(wt, Vector256.Load(b7 + o), a7);
        }
        var acc = stackalloc Vector256<float>[8];
        acc[0] = a0; acc[1] = a1; acc[2] = a2; acc[3] = a3; acc[4] = a4; acc[5] = a5; acc[6] = a6; acc[7] = a7;
        for (int q = 0; q < count; q++)
        {
            var v = relu ? Vector256.Max(acc[q], Vector256<float>.Zero) : acc[q];
            int item = it + q, i = item / blocksW, j0 = item % blocksW * 8;
            float* dst = py + i * outW + j0;
            if (j0 + 8 <= outW) v.Store(dst);
            else
            {
                float* tmp = (float*)(acc + q);
                v.Store(tmp);
                for (int j = 0; j < outW - j0; j++) dst[j] = tmp[j];
            }
        }
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
