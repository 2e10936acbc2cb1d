using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace MLConv.Training.Kernels;

/// <summary>
/// Direct depthwise convolution (groups = C_in, C_out = m·C_in): output channel co reads only input
/// channel co / m, so im2col + GEMM would run GEMMs of one row; this kernel walks the planes instead.
///   y[n, co, i, j]  = b[co] + Σ_{u,v} w[co, u, v] · x[n, co/m, i·sh − pt + u·dh, j·sw − pl + v·dw]
///   dW[co, u, v]   += Σ_{n,i,j} dy[n, co, i, j] · x[n, co/m, …]
///   dx[n, co/m, …] += Σ_{u,v} w[co, u, v] · dy[n, co, i, j]
/// Every pass works on one input plane held zero-padded in "column phases" of the stride: phase q, row r, column k
/// holds padded[r, k·sw + q] (padded row r is input row r − pt, padded column c input column c − pl). Output column j
/// of tap (u, v) then reads phase (v·dw) mod sw at row i·sh + u·dh, column j + (v·dw) div sw: for every stride and
/// dilation, a tap over 8 consecutive outputs is one contiguous 8-wide load, and no edge needs a test.
/// Work is split by input plane (forward, dx) and by output channel (dW, db, a fixed order over n, rows and column
/// blocks, 8 lanes summed at the end): deterministic, whatever the thread count.
/// </summary>
public static class DepthwiseConv
{
    private const int V = 8;

    /// <summary>A thread's phase buffer and zero-tailed dy row, grown on demand (no allocation once shapes settle).</summary>
    [ThreadStatic] private static float[]? t_phases;
    [ThreadStatic] private static float[]? t_row;

    /// <summary>The phase layout of one plane for a window and output size.</summary>
    private readonly struct Phases
    {
        public readonly int Rows, PhaseW, PhaseSize, BlocksW, Sw, Sh, PadTop, PadLeft, Height, Width;

        public Phases(in Window2d g, int height, int width, int outH, int outW)
        {
            Rows = (outH - 1) * g.StrideH + (g.KernelH - 1) * g.DilationH + 1;
            BlocksW = (outW + V - 1) / V;
            PhaseW = BlocksW * V + (g.KernelW - 1) * g.DilationW / g.StrideW + 1;
            PhaseSize = Rows * PhaseW;
            Sw = g.StrideW; Sh = g.StrideH; PadTop = g.PadTop; PadLeft = g.PadLeft; Height = height; Width = width;
        }

        public int Length => Sw * PhaseSize;

        /// <summary>Offset of tap (u, v) from the start of output row 0, block 0, per tap (into <paramref name="offsets"/>).</summary>
        public unsafe void TapOffsets(in Window2d g, int* offsets)
        {
            for (int u = 0; u < g.KernelH; u++)
            for (int v = 0; v < g.KernelW; v++)
            {
                int off = v * g.DilationW;
                offsets[u * g.KernelW + v] = off % Sw * PhaseSize + u * g.DilationH * PhaseW + off / Sw;
            }
        }

        /// <summary>Copies an input plane into the phases (zeros outside the image).</summary>
        public unsafe void Fill(float* plane, float* ph)
        {
            for (int r = 0; r < Rows; r++)
            {
                int yy = r - PadTop;
                bool inside = (uint)yy < (uint)Height;
                for (int q = 0; q < Sw; q++)
                {
                    float* dst = ph + q * PhaseSize + r * PhaseW;
                    if (!inside) { new Span<float>(dst, PhaseW).Clear(); continue; }
                    float* src = plane + yy * Width;
                    if (Sw == 1)
                    {
                        // Phase columns [0, PhaseW) are input columns [−PadLeft, PhaseW − PadLeft).
                        int c0 = Math.Min(PhaseW, PadLeft), c1 = Math.Clamp(Width + PadLeft, c0, PhaseW);
                        new Span<float>(dst, c0).Clear();
                        new ReadOnlySpan<float>(src + c0 - PadLeft, c1 - c0).CopyTo(new Span<float>(dst + c0, c1 - c0));
                        new Span<float>(dst + c1, PhaseW - c1).Clear();
                    }
                    else
                        for (int k = 0; k < PhaseW; k++)
                        {
                            int xx = k * Sw + q - PadLeft;
                            dst[k] = (uint)xx < (uint)Width ? src[xx] : 0f;
                        }
                }
            }
        }

        /// <summary>The adjoint of <see cref="Fill"/> restricted to the image: plane[yy, xx] = phases at (yy + pt, xx + pl) (0 where no window reached).</summary>
        public unsafe void Extract(float* ph, float* plane)
        {
            for (int yy = 0; yy < Height; yy++)
            {
                float* dst = plane + yy * Width;
                int r = yy + PadTop;
                if (r >= Rows) { new Span<float>(dst, Width).Clear(); continue; }
                for (int xx = 0; xx < Width; xx++)
                {
                    int c = xx + PadLeft, k = c / Sw;
                    dst[xx] = k < PhaseW ? ph[c % Sw * PhaseSize + r * PhaseW + k] : 0f;
                }
            }
        }
    }

    private static float[] Buffer(ref float[]? cache, int length)
    {
        if (cache is null || cache.Length < length) cache = new float[length];
        return cache;
    }

    /// <summary>
    /// y = W ⋆ x + b per channel; with <paramref name="relu"/>, y = max(·, 0) applied in registers. Per input plane (one
    /// thread each) the plane is put into phases once; each group of eight 8-wide output blocks is accumulated over all
    /// taps in eight independent chains — bias first, then the taps in order — and stored once.
    /// </summary>
    public static unsafe void Forward(float[] x, float[] w, float[]? bias, float[] y, int n, int channels, int height, int width,
        int multiplier, Window2d g, int outH, int outW, bool relu = false)
    {
        int cout = channels * multiplier, inPlane = height * width, outPlane = outH * outW, taps = g.KernelH * g.KernelW;
        var geo = new Phases(g, height, width, outH, outW);
        Parallelism.For(n * channels, (long)multiplier * outPlane * taps, p =>
        {
            int b = p / channels, ci = p % channels;
            var buf = Buffer(ref t_phases, geo.Length);
            int* tapOff = stackalloc int[taps];
            geo.TapOffsets(g, tapOff);
            var wv = stackalloc Vector256<float>[taps];
            int items = outH * geo.BlocksW;
            fixed (float* px = &x[p * inPlane], ph = buf)
            {
                geo.Fill(px, ph);
                for (int m = 0; m < multiplier; m++)
                {
                    int co = ci * multiplier + m;
                    for (int t = 0; t < taps; t++) wv[t] = Vector256.Create(w[co * taps + t]);
                    var vb = Vector256.Create(bias?[co] ?? 0f);
                    fixed (float* py = &y[(b * cout + co) * outPlane])
                        for (int it = 0; it < items; it += 8)
                            Blocks8(ph, geo.PhaseW, geo.BlocksW, geo.Sh, it, Math.Min(8, items - it), tapOff, wv, taps, vb, relu, py, outW);
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
            int item = it + (q < count ? q : 0), i = item / blocksW, j0 = item % blocksW * V;
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
            int item = it + q, i = item / blocksW, j0 = item % blocksW * V;
            float* dst = py + i * outW + j0;
            if (j0 + V <= outW) v.Store(dst);
            else
            {
                float* tmp = (float*)(acc + q);
                v.Store(tmp);
                for (int j = 0; j < outW - j0; j++) dst[j] = tmp[j];
            }
        }
    }

    /// <summary>
    /// Accumulates dW (and db) and, when <paramref name="dxOut"/> is given, writes dX. dW: per output channel, per sample
    /// the input plane goes into phases and each dy row (copied with a zero tail to whole blocks) is multiplied into one
    /// 8-lane accumulator per tap. dX: per input plane, w·dy of its output channels is added into zeroed phases at the
    /// taps' offsets, then read back onto the image (the adjoint of the forward's gather).
    /// </summary>
    public static unsafe void Backward(float[] x, float[] w, float[] dy, float[] dw, float[]? db, float[]? dxOut, int n, int channels, int height, int width,
        int multiplier, Window2d g, int outH, int outW)
    {
        int cout = channels * multiplier, inPlane = height * width, outPlane = outH * outW, taps = g.KernelH * g.KernelW;
        var geo = new Phases(g, height, width, outH, outW);
        int rowLen = geo.BlocksW * V;
        Parallelism.For(cout, (long)n * outPlane * taps, co =>
        {
            int ci = co / multiplier;
            var buf = Buffer(ref t_phases, geo.Length);
            var rowBuf = Buffer(ref t_row, rowLen);
            int* tapOff = stackalloc int[taps];
            geo.TapOffsets(g, tapOff);
            var acc = stackalloc Vector256<float>[taps];
            for (int t = 0; t < taps; t++) acc[t] = Vector256<float>.Zero;
            fixed (float* ph = buf, row = rowBuf)
            {
                for (int b = 0; b < n; b++)
                {
                    fixed (float* px = &x[(b * channels + ci) * inPlane], pd = &dy[(b * cout + co) * outPlane])
                    {
                        if (db is not null) db[co] += System.Numerics.Tensors.TensorPrimitives.Sum(new ReadOnlySpan<float>(pd, outPlane));
                        geo.Fill(px, ph);
                        new Span<float>(row + outW, rowLen - outW).Clear();
                        for (int i = 0; i < outH; i++)
                        {
                            new ReadOnlySpan<float>(pd + i * outW, outW).CopyTo(new Span<float>(row, outW));
                            float* src = ph + i * geo.Sh * geo.PhaseW;
                            for (int j0 = 0; j0 < rowLen; j0 += V)
                            {
                                var d = Vector256.Load(row + j0);
                                for (int t = 0; t < taps; t++)
                                    acc[t] = Vector256.FusedMultiplyAdd(d, Vector256.Load(src + tapOff[t] + j0), acc[t]);
                            }
                        }
                    }
                }
            }
            for (int t = 0; t < taps; t++) dw[co * taps + t] += Vector256.Sum(acc[t]);
        });
        if (dxOut is null) return;
        Parallelism.For(n * channels, (long)multiplier * outPlane * taps, p =>
        {
            int b = p / channels, ci = p % channels;
            var buf = Buffer(ref t_phases, geo.Length);
            var rowBuf = Buffer(ref t_row, rowLen);
            int* tapOff = stackalloc int[taps];
            geo.TapOffsets(g, tapOff);
            fixed (float* ph = buf, row = rowBuf, pdx = &dxOut[p * inPlane])
            {
                new Span<float>(ph, geo.Length).Clear();
                new Span<float>(row + outW, rowLen - outW).Clear();
                for (int m = 0; m < multiplier; m++)
                {
                    int co = ci * multiplier + m;
                    fixed (float* pd = &dy[(b * cout + co) * outPlane])
                        for (int i = 0; i < outH; i++)
                        {
                            new ReadOnlySpan<float>(pd + i * outW, outW).CopyTo(new Span<float>(row, outW));
                            float* dst = ph + i * geo.Sh * geo.PhaseW;
                            for (int t = 0; t < taps; t++)
                            {
                                var wt = Vector256.Create(w[co * taps + t]);
                                float* d = dst + tapOff[t];
                                for (int j0 = 0; j0 < rowLen; j0 += V)
                                    Vector256.FusedMultiplyAdd(wt, Vector256.Load(row + j0), Vector256.Load(d + j0)).Store(d + j0);
                            }
                        }
                }
                geo.Extract(ph, pdx);
            }
        });
    }
}
