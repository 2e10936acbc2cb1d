using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

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
/// blocks, lanes summed at the end): deterministic, whatever the thread count.
/// 3x3 windows with row dilation 1 and row stride 1 or 2 run 16-lane (AVX-512) kernels: four output rows per pass, every
/// loaded input row feeding each output row it reaches, dW's nine taps and db accumulated in registers. Strides 1 and 2
/// (both ways, column dilation 1) read the image in place under column masks, stride 2 splitting even and odd columns in
/// registers; other column strides and dilations go through 16-lane phases filled a band of rows at a time. dX is the
/// flipped-kernel forward of dy for stride 1 and is built by output phase for stride 2 (multiplier 1).
/// </summary>
public static class DepthwiseConv
{
    private const int V = 8;
    private const int W = 16;
    private static readonly Vector512<float> Iota = Vector512.Create(0f, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);

    /// <summary>A thread's phase buffer and zero-tailed dy row, grown on demand (no allocation once shapes settle).</summary>
    [ThreadStatic] private static float[]? t_phases;
    [ThreadStatic] private static float[]? t_row;

    /// <summary>The phase layout of one plane for a window and output size.</summary>
    private readonly struct Phases
    {
        public readonly int Rows, PhaseW, PhaseSize, BlocksW, Sw, Sh, PadTop, PadLeft, Height, Width;
        /// <summary>Lanes [0, Width mod 16) set: the last, partial vector of an image row.</summary>
        public readonly Vector512<float> TailMask;

        /// <summary>
        /// Phases wide enough for <paramref name="lanes"/>-wide blocks (<see cref="BlocksW"/> counts 8-wide ones), rows a
        /// multiple of 16 long when lanes = 16, and at least <paramref name="minRows"/> rows (the extra ones zero).
        /// </summary>
        public Phases(in Window2d g, int height, int width, int outH, int outW, int lanes = V, int minRows = 0)
        {
            Rows = Math.Max((outH - 1) * g.StrideH + (g.KernelH - 1) * g.DilationH + 1, minRows);
            BlocksW = (outW + V - 1) / V;
            PhaseW = (outW + lanes - 1) / lanes * lanes + (g.KernelW - 1) * g.DilationW / g.StrideW + 1;
            if (lanes == W) PhaseW = (PhaseW + W - 1) / W * W;
            PhaseSize = Rows * PhaseW;
            TailMask = Vector512.LessThan(Iota, Vector512.Create((float)(width % W)));
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

        /// <summary>
        /// Copies an input plane into the phases (zeros outside the image). With stride 2 and rows a multiple of 16 long,
        /// each padded row is built once in <paramref name="row"/> (2·PhaseW floats) and split into its even and odd
        /// columns 16 at a time.
        /// </summary>
        public unsafe void Fill(float* plane, float* ph, float* row = null) => Fill(plane, ph, row, 0, Rows);

        /// <summary>
        /// <see cref="Fill(float*, float*, float*)"/> for phase rows [<paramref name="r0"/>, <paramref name="r1"/>) only
        /// (clamped to <see cref="Rows"/>): filled a band at a time just before they are read, the rows are still in L1.
        /// </summary>
        public unsafe void Fill(float* plane, float* ph, float* row, int r0, int r1)
        {
            r1 = Math.Min(r1, Rows);
            if (r0 >= r1) return;
            if (Sw == 2 && row != null && PhaseW % W == 0 && Avx512F.IsSupported)
            {
                FillStride2(plane, ph, row, r0, r1);
                return;
            }
            if (Sw == 1 && PhaseW % W == 0 && PadLeft + (Width + W - 1) / W * W <= PhaseW && Avx512F.IsSupported)
            {
                FillStride1(plane, ph, r0, r1);
                return;
            }
            for (int r = r0; r < r1; r++)
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

        /// <summary>Stride 1 with room for whole vectors: each row zeroed 16 at a time, then the image row stored 16 at a time at PadLeft (the last under a mask, zeros past Width).</summary>
        private unsafe void FillStride1(float* plane, float* ph, int r0, int r1)
        {
            int full = Width / W * W;
            var mask = TailMask;
            for (int r = r0; r < r1; r++)
            {
                float* dst = ph + r * PhaseW;
                for (int k = 0; k < PhaseW; k += W) Vector512<float>.Zero.Store(dst + k);
                int yy = r - PadTop;
                if ((uint)yy >= (uint)Height) continue;
                float* src = plane + yy * Width;
                dst += PadLeft;
                for (int k = 0; k < full; k += W) Vector512.Load(src + k).Store(dst + k);
                if (full < Width) Avx512F.MaskLoad(src + full, mask, Vector512<float>.Zero).Store(dst + full);
            }
        }

        private unsafe void FillStride2(float* plane, float* ph, float* row, int r0, int r1)
        {
            int len = 2 * PhaseW, c0 = Math.Min(len, PadLeft), c1 = Math.Clamp(Width + PadLeft, c0, len);
            new Span<float>(row, c0).Clear();
            new Span<float>(row + c1, len - c1).Clear();
            var even = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
            var odd = even + Vector512<int>.One;
            for (int r = r0; r < r1; r++)
            {
                int yy = r - PadTop;
                float* d0 = ph + r * PhaseW, d1 = d0 + PhaseSize;
                if ((uint)yy >= (uint)Height)
                {
                    new Span<float>(d0, PhaseW).Clear();
                    new Span<float>(d1, PhaseW).Clear();
                    continue;
                }
                new ReadOnlySpan<float>(plane + yy * Width + c0 - PadLeft, c1 - c0).CopyTo(new Span<float>(row + c0, c1 - c0));
                for (int k = 0; k < PhaseW; k += W)
                {
                    var lo = Vector512.Load(row + 2 * k);
                    var hi = Vector512.Load(row + 2 * k + W);
                    Avx512F.PermuteVar16x32x2(lo, even, hi).Store(d0 + k);
                    Avx512F.PermuteVar16x32x2(lo, odd, hi).Store(d1 + k);
                }
            }
        }

        /// <summary>The adjoint of <see cref="Fill(float*, float*, float*)"/> restricted to the image: plane[yy, xx] = phases at (yy + pt, xx + pl) (0 where no window reached).</summary>
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
        if (IsFast3x3(g))
        {
            if (g.StrideW == g.StrideH && g.StrideH <= 2 && g.DilationW == 1)
            {
                // Strides 1 and 2: no copy, the image is read in place under column masks (stride 2 splits even and odd
                // columns in registers). A static body and a state struct: the loop allocates nothing.
                Parallelism.For(n * channels, (long)multiplier * outPlane * taps,
                    new DirectJob(x, w, bias, y, channels, height, width, multiplier, g.StrideH, g.PadTop, g.PadLeft, outH, outW, relu),
                    static (in DirectJob j, int p) => j.Plane(p));
                return;
            }
            var g16 = new Phases(g, height, width, outH, outW, W, PhaseRows3x3(g, outH));
            Parallelism.For(n * channels, (long)multiplier * outPlane * taps, p =>
            {
                int b = p / channels, ci = p % channels;
                var buf = Buffer(ref t_phases, g16.Length);
                var rowBuf = Buffer(ref t_row, 2 * g16.PhaseW);
                fixed (float* px = &x[p * inPlane], ph = buf, row = rowBuf, pw = w)
                {
                    var (c0, c1, c2) = ColumnTaps(g, g16);
                    for (int m = 0; m < multiplier; m++)
                    {
                        int co = ci * multiplier + m;
                        fixed (float* py = &y[(b * cout + co) * outPlane])
                            Rows3x3(g16, m == 0 ? px : null, row, ph, g.StrideH, c0, c1, c2, pw + co * 9, bias?[co] ?? 0f, relu, py, outH, outW);
                    }
                }
            });
            return;
        }
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

    /// <summary>One input plane of the in-place 3x3 forward (stride 1 or 2, both ways): its multiplier output planes.</summary>
    private readonly record struct DirectJob(float[] X, float[] Wt, float[]? Bias, float[] Y, int Channels, int Height, int Width, int Multiplier,
        int Stride, int PadTop, int PadLeft, int OutH, int OutW, bool Relu)
    {
        public unsafe void Plane(int p)
        {
            int b = p / Channels, ci = p % Channels, outPlane = OutH * OutW, cout = Channels * Multiplier;
            fixed (float* px = &X[p * Height * Width], pw = Wt)
                for (int m = 0; m < Multiplier; m++)
                {
                    int co = ci * Multiplier + m;
                    fixed (float* py = &Y[(b * cout + co) * outPlane])
                        if (Stride == 1) Direct3x3(px, Height, Width, PadTop, PadLeft, pw + co * 9, Bias?[co] ?? 0f, Relu, py, OutH, OutW);
                        else Direct3x3Stride2(px, Height, Width, PadTop, PadLeft, pw + co * 9, Bias?[co] ?? 0f, Relu, py, OutH, OutW);
                }
        }
    }

    /// <summary>
    /// The 16-lane path: a 3x3 kernel, row dilation 1, row stride 1 or 2 (any column stride and dilation: the phases
    /// absorb them), where AVX-512 runs.
    /// </summary>
    private static bool IsFast3x3(in Window2d g) =>
        g.KernelH == 3 && g.KernelW == 3 && g.DilationH == 1 && (g.StrideH == 1 || g.StrideH == 2)
        && Vector512.IsHardwareAccelerated && Avx512F.IsSupported;

    /// <summary>Phase rows the 3x3 forward reads: whole groups of four output rows (the rows past the image are zero).</summary>
    private static int PhaseRows3x3(in Window2d g, int outH) => ((outH + 3) / 4 * 4 - 1) * g.StrideH + 3;

    /// <summary>Offsets of the three column taps v = 0, 1, 2 in the phases: phase (v·dw) mod sw, column (v·dw) div sw.</summary>
    private static (int, int, int) ColumnTaps(in Window2d g, in Phases geo)
    {
        int d = g.DilationW, s = g.StrideW;
        return (0, d % s * geo.PhaseSize + d / s, 2 * d % s * geo.PhaseSize + 2 * d / s);
    }

    /// <summary>
    /// One output plane of a 3x3 window over phases (row stride <paramref name="sh"/> 1 or 2): four output rows × 16 columns
    /// per step, each loaded input row feeding every output row it reaches (6 rows for stride 1, 9 for stride 2, 3 loads
    /// each). Per output: bias, then taps (u, v) in row-major order, ReLU when asked. The last column block is shifted
    /// left to end at outW (recomputing a few outputs, bit for bit the same); planes narrower than 16 store under a mask;
    /// rows of the last group past outH are computed on zero rows and not stored. With <paramref name="plane"/>, each
    /// band of 16 output rows has its input rows put into the phases just before it reads them.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Rows3x3(in Phases geo, float* plane, float* row, float* ph, int sh, int c0, int c1, int c2, float* wk, float bias, bool relu,
        float* py, int outH, int outW)
    {
        int phaseW = geo.PhaseW;
        Vector512<float> w00 = Vector512.Create(wk[0]), w01 = Vector512.Create(wk[1]), w02 = Vector512.Create(wk[2]);
        Vector512<float> w10 = Vector512.Create(wk[3]), w11 = Vector512.Create(wk[4]), w12 = Vector512.Create(wk[5]);
        Vector512<float> w20 = Vector512.Create(wk[6]), w21 = Vector512.Create(wk[7]), w22 = Vector512.Create(wk[8]);
        var vb = Vector512.Create(bias);
        var mask = Vector512.LessThan(Iota, Vector512.Create((float)outW));
        int step = sh * phaseW;
        for (int i0 = 0; i0 < outH; i0 += 4)
        {
            int rows = Math.Min(4, outH - i0);
            if (plane != null && i0 % 16 == 0) geo.Fill(plane, ph, row, i0 * sh, (i0 + 15) * sh + 3);
            for (int j = 0; j < outW; j += W)
            {
                int j0 = outW >= W ? Math.Min(j, outW - W) : 0;
                float* p = ph + i0 * step + j0;
                Vector512<float> a0 = vb, a1 = vb, a2 = vb, a3 = vb, x0, x1, x2;
                if (sh == 1)
                {
                    // Input row r feeds output row k with u = r − k.
                    Load3(p, c0, c1, c2, out x0, out x1, out x2); p += phaseW;
                    a0 = Fma3(a0, x0, x1, x2, w00, w01, w02);
                    Load3(p, c0, c1, c2, out x0, out x1, out x2); p += phaseW;
                    a0 = Fma3(a0, x0, x1, x2, w10, w11, w12); a1 = Fma3(a1, x0, x1, x2, w00, w01, w02);
                    Load3(p, c0, c1, c2, out x0, out x1, out x2); p += phaseW;
                    a0 = Fma3(a0, x0, x1, x2, w20, w21, w22); a1 = Fma3(a1, x0, x1, x2, w10, w11, w12); a2 = Fma3(a2, x0, x1, x2, w00, w01, w02);
                    Load3(p, c0, c1, c2, out x0, out x1, out x2); p += phaseW;
                    a1 = Fma3(a1, x0, x1, x2, w20, w21, w22); a2 = Fma3(a2, x0, x1, x2, w10, w11, w12); a3 = Fma3(a3, x0, x1, x2, w00, w01, w02);
                    Load3(p, c0, c1, c2, out x0, out x1, out x2); p += phaseW;
                    a2 = Fma3(a2, x0, x1, x2, w20, w21, w22); a3 = Fma3(a3, x0, x1, x2, w10, w11, w12);
                    Load3(p, c0, c1, c2, out x0, out x1, out x2);
                    a3 = Fma3(a3, x0, x1, x2, w20, w21, w22);
                }
                else
                {
                    // Input row r feeds output row k with u = r − 2k.
                    Load3(p, c0, c1, c2, out x0, out x1, out x2); p += phaseW;
                    a0 = Fma3(a0, x0, x1, x2, w00, w01, w02);
                    Load3(p, c0, c1, c2, out x0, out x1, out x2); p += phaseW;
                    a0 = Fma3(a0, x0, x1, x2, w10, w11, w12);
                    Load3(p, c0, c1, c2, out x0, out x1, out x2); p += phaseW;
                    a0 = Fma3(a0, x0, x1, x2, w20, w21, w22); a1 = Fma3(a1, x0, x1, x2, w00, w01, w02);
                    Load3(p, c0, c1, c2, out x0, out x1, out x2); p += phaseW;
                    a1 = Fma3(a1, x0, x1, x2, w10, w11, w12);
                    Load3(p, c0, c1, c2, out x0, out x1, out x2); p += phaseW;
                    a1 = Fma3(a1, x0, x1, x2, w20, w21, w22); a2 = Fma3(a2, x0, x1, x2, w00, w01, w02);
                    Load3(p, c0, c1, c2, out x0, out x1, out x2); p += phaseW;
                    a2 = Fma3(a2, x0, x1, x2, w10, w11, w12);
                    Load3(p, c0, c1, c2, out x0, out x1, out x2); p += phaseW;
                    a2 = Fma3(a2, x0, x1, x2, w20, w21, w22); a3 = Fma3(a3, x0, x1, x2, w00, w01, w02);
                    Load3(p, c0, c1, c2, out x0, out x1, out x2); p += phaseW;
                    a3 = Fma3(a3, x0, x1, x2, w10, w11, w12);
                    Load3(p, c0, c1, c2, out x0, out x1, out x2);
                    a3 = Fma3(a3, x0, x1, x2, w20, w21, w22);
                }
                Store4(a0, a1, a2, a3, relu, py + i0 * outW + j0, outW, rows, mask);
            }
        }
    }

    /// <summary>
    /// <see cref="Rows3x3"/> for stride 1 and column dilation 1 straight from the image: image row r, taps v = 0, 1, 2 of
    /// the block at output column j0 are three loads at column j0 − pl + v under masks of the lanes inside [0, width)
    /// (zeros elsewhere), rows outside the image are zero. Same order of operations, same blocks, same stores.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Direct3x3(float* px, int height, int width, int pt, int pl, float* wk, float bias, bool relu, float* py, int outH, int outW)
    {
        Vector512<float> w00 = Vector512.Create(wk[0]), w01 = Vector512.Create(wk[1]), w02 = Vector512.Create(wk[2]);
        Vector512<float> w10 = Vector512.Create(wk[3]), w11 = Vector512.Create(wk[4]), w12 = Vector512.Create(wk[5]);
        Vector512<float> w20 = Vector512.Create(wk[6]), w21 = Vector512.Create(wk[7]), w22 = Vector512.Create(wk[8]);
        var vb = Vector512.Create(bias);
        var mask = Vector512.LessThan(Iota, Vector512.Create((float)outW));
        for (int i0 = 0; i0 < outH; i0 += 4)
        {
            int rows = Math.Min(4, outH - i0), r = i0 - pt;
            for (int j = 0; j < outW; j += W)
            {
                int j0 = outW >= W ? Math.Min(j, outW - W) : 0, c = j0 - pl;
                var m0 = ColumnMask(c, width); var m1 = ColumnMask(c + 1, width); var m2 = ColumnMask(c + 2, width);
                Vector512<float> a0 = vb, a1 = vb, a2 = vb, a3 = vb, x0, x1, x2;
                LoadRow(px, r, height, width, c, m0, m1, m2, out x0, out x1, out x2);
                a0 = Fma3(a0, x0, x1, x2, w00, w01, w02);
                LoadRow(px, r + 1, height, width, c, m0, m1, m2, out x0, out x1, out x2);
                a0 = Fma3(a0, x0, x1, x2, w10, w11, w12); a1 = Fma3(a1, x0, x1, x2, w00, w01, w02);
                LoadRow(px, r + 2, height, width, c, m0, m1, m2, out x0, out x1, out x2);
                a0 = Fma3(a0, x0, x1, x2, w20, w21, w22); a1 = Fma3(a1, x0, x1, x2, w10, w11, w12); a2 = Fma3(a2, x0, x1, x2, w00, w01, w02);
                LoadRow(px, r + 3, height, width, c, m0, m1, m2, out x0, out x1, out x2);
                a1 = Fma3(a1, x0, x1, x2, w20, w21, w22); a2 = Fma3(a2, x0, x1, x2, w10, w11, w12); a3 = Fma3(a3, x0, x1, x2, w00, w01, w02);
                LoadRow(px, r + 4, height, width, c, m0, m1, m2, out x0, out x1, out x2);
                a2 = Fma3(a2, x0, x1, x2, w20, w21, w22); a3 = Fma3(a3, x0, x1, x2, w10, w11, w12);
                LoadRow(px, r + 5, height, width, c, m0, m1, m2, out x0, out x1, out x2);
                a3 = Fma3(a3, x0, x1, x2, w20, w21, w22);
                Store4(a0, a1, a2, a3, relu, py + i0 * outW + j0, outW, rows, mask);
            }
        }
    }

    /// <summary>
    /// <see cref="Direct3x3"/> for stride 2 (both ways): image row r at columns c + 2j + v, c = 2·j0 − pl, is four masked
    /// loads (columns c + [0, 32) and c + 2 + [0, 32)) split into even and odd lanes (<see cref="LoadRowStride2"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Direct3x3Stride2(float* px, int height, int width, int pt, int pl, float* wk, float bias, bool relu, float* py, int outH, int outW)
    {
        Vector512<float> w00 = Vector512.Create(wk[0]), w01 = Vector512.Create(wk[1]), w02 = Vector512.Create(wk[2]);
        Vector512<float> w10 = Vector512.Create(wk[3]), w11 = Vector512.Create(wk[4]), w12 = Vector512.Create(wk[5]);
        Vector512<float> w20 = Vector512.Create(wk[6]), w21 = Vector512.Create(wk[7]), w22 = Vector512.Create(wk[8]);
        var vb = Vector512.Create(bias);
        var mask = Vector512.LessThan(Iota, Vector512.Create((float)outW));
        for (int i0 = 0; i0 < outH; i0 += 4)
        {
            int rows = Math.Min(4, outH - i0), r = 2 * i0 - pt;
            for (int j = 0; j < outW; j += W)
            {
                int j0 = outW >= W ? Math.Min(j, outW - W) : 0, c = 2 * j0 - pl;
                var mA = ColumnMask(c, width); var mB = ColumnMask(c + W, width); var mC = ColumnMask(c + 2, width); var mD = ColumnMask(c + 2 + W, width);
                Vector512<float> a0 = vb, a1 = vb, a2 = vb, a3 = vb, x0, x1, x2;
                LoadRowStride2(px, r, height, width, c, mA, mB, mC, mD, out x0, out x1, out x2);
                a0 = Fma3(a0, x0, x1, x2, w00, w01, w02);
                LoadRowStride2(px, r + 1, height, width, c, mA, mB, mC, mD, out x0, out x1, out x2);
                a0 = Fma3(a0, x0, x1, x2, w10, w11, w12);
                LoadRowStride2(px, r + 2, height, width, c, mA, mB, mC, mD, out x0, out x1, out x2);
                a0 = Fma3(a0, x0, x1, x2, w20, w21, w22); a1 = Fma3(a1, x0, x1, x2, w00, w01, w02);
                LoadRowStride2(px, r + 3, height, width, c, mA, mB, mC, mD, out x0, out x1, out x2);
                a1 = Fma3(a1, x0, x1, x2, w10, w11, w12);
                LoadRowStride2(px, r + 4, height, width, c, mA, mB, mC, mD, out x0, out x1, out x2);
                a1 = Fma3(a1, x0, x1, x2, w20, w21, w22); a2 = Fma3(a2, x0, x1, x2, w00, w01, w02);
                LoadRowStride2(px, r + 5, height, width, c, mA, mB, mC, mD, out x0, out x1, out x2);
                a2 = Fma3(a2, x0, x1, x2, w10, w11, w12);
                LoadRowStride2(px, r + 6, height, width, c, mA, mB, mC, mD, out x0, out x1, out x2);
                a2 = Fma3(a2, x0, x1, x2, w20, w21, w22); a3 = Fma3(a3, x0, x1, x2, w00, w01, w02);
                LoadRowStride2(px, r + 7, height, width, c, mA, mB, mC, mD, out x0, out x1, out x2);
                a3 = Fma3(a3, x0, x1, x2, w10, w11, w12);
                LoadRowStride2(px, r + 8, height, width, c, mA, mB, mC, mD, out x0, out x1, out x2);
                a3 = Fma3(a3, x0, x1, x2, w20, w21, w22);
                Store4(a0, a1, a2, a3, relu, py + i0 * outW + j0, outW, rows, mask);
            }
        }
    }

    /// <summary>Image row r at columns c + 2j + v (v = 0, 1, 2; j = 0 … 15), zero outside the image: even and odd lanes of two masked 32-column loads.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void LoadRowStride2(float* px, int r, int height, int width, int c, Vector512<float> mA, Vector512<float> mB,
        Vector512<float> mC, Vector512<float> mD, out Vector512<float> x0, out Vector512<float> x1, out Vector512<float> x2)
    {
        if ((uint)r >= (uint)height)
        {
            x0 = x1 = x2 = Vector512<float>.Zero;
            return;
        }
        float* p = px + r * width + c;
        var even = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        var a = Avx512F.MaskLoad(p, mA, Vector512<float>.Zero);
        var b = Avx512F.MaskLoad(p + W, mB, Vector512<float>.Zero);
        var cc = Avx512F.MaskLoad(p + 2, mC, Vector512<float>.Zero);
        var d = Avx512F.MaskLoad(p + 2 + W, mD, Vector512<float>.Zero);
        x0 = Avx512F.PermuteVar16x32x2(a, even, b);
        x1 = Avx512F.PermuteVar16x32x2(a, even + Vector512<int>.One, b);
        x2 = Avx512F.PermuteVar16x32x2(cc, even, d);
    }

    /// <summary>Lanes j with 0 ≤ c + j &lt; width set.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> ColumnMask(int c, int width)
    {
        var idx = Iota + Vector512.Create((float)c);
        return Vector512.GreaterThanOrEqual(idx, Vector512<float>.Zero) & Vector512.LessThan(idx, Vector512.Create((float)width));
    }

    /// <summary>Image row <paramref name="r"/> at columns c + v + [0, 16), v = 0, 1, 2, under the column masks (zero outside the image).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void LoadRow(float* px, int r, int height, int width, int c, Vector512<float> m0, Vector512<float> m1, Vector512<float> m2,
        out Vector512<float> x0, out Vector512<float> x1, out Vector512<float> x2)
    {
        if ((uint)r >= (uint)height)
        {
            x0 = x1 = x2 = Vector512<float>.Zero;
            return;
        }
        float* p = px + r * width + c;
        x0 = Avx512F.MaskLoad(p, m0, Vector512<float>.Zero);
        x1 = Avx512F.MaskLoad(p + 1, m1, Vector512<float>.Zero);
        x2 = Avx512F.MaskLoad(p + 2, m2, Vector512<float>.Zero);
    }

    /// <summary>Stores up to four output rows of one block (ReLU when asked; under <paramref name="mask"/> when outW &lt; 16).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Store4(Vector512<float> a0, Vector512<float> a1, Vector512<float> a2, Vector512<float> a3, bool relu, float* q, int outW, int rows,
        Vector512<float> mask)
    {
        if (relu)
        {
            a0 = Vector512.Max(a0, Vector512<float>.Zero); a1 = Vector512.Max(a1, Vector512<float>.Zero);
            a2 = Vector512.Max(a2, Vector512<float>.Zero); a3 = Vector512.Max(a3, Vector512<float>.Zero);
        }
        if (outW >= W)
        {
            a0.Store(q);
            if (rows > 1) a1.Store(q + outW);
            if (rows > 2) a2.Store(q + 2 * outW);
            if (rows > 3) a3.Store(q + 3 * outW);
        }
        else
        {
            Avx512F.MaskStore(q, mask, a0);
            if (rows > 1) Avx512F.MaskStore(q + outW, mask, a1);
            if (rows > 2) Avx512F.MaskStore(q + 2 * outW, mask, a2);
            if (rows > 3) Avx512F.MaskStore(q + 3 * outW, mask, a3);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Load3(float* p, int c0, int c1, int c2, out Vector512<float> x0, out Vector512<float> x1, out Vector512<float> x2)
    {
        x0 = Vector512.Load(p + c0);
        x1 = Vector512.Load(p + c1);
        x2 = Vector512.Load(p + c2);
    }

    /// <summary>a + w0·x0 + w1·x1 + w2·x2, in that order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Fma3(Vector512<float> a, Vector512<float> x0, Vector512<float> x1, Vector512<float> x2,
        Vector512<float> w0, Vector512<float> w1, Vector512<float> w2) =>
        Vector512.FusedMultiplyAdd(w2, x2, Vector512.FusedMultiplyAdd(w1, x1, Vector512.FusedMultiplyAdd(w0, x0, a)));

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
        if (IsFast3x3(g))
        {
            if (g.StrideH == g.StrideW && g.StrideH <= 2 && g.DilationW == 1)
                Parallelism.For(cout, (long)n * outPlane * taps, co =>
                {
                    fixed (float* px = x, pdy = dy, pdw = &dw[co * 9])
                        WeightGradientDirect3x3(px, pdy, pdw, db, co, n, channels, cout, multiplier, height, width, g.StrideH, g.PadTop, g.PadLeft, outH, outW);
                });
            else
            {
            var g16 = new Phases(g, height, width, outH, outW, W);
            Parallelism.For(cout, (long)n * outPlane * taps, co =>
            {
                var buf = Buffer(ref t_phases, g16.Length);
                var rowBuf = Buffer(ref t_row, 2 * g16.PhaseW);
                fixed (float* px = x, pdy = dy, pdw = &dw[co * 9], ph = buf, row = rowBuf)
                    WeightGradient3x3(px, pdy, pdw, db, co, n, channels, cout, multiplier, inPlane, g, g16, ph, row, outH, outW);
            });
            }
            if (dxOut is not null && !TransposedAsForward(w, dy, dxOut, n, channels, height, width, multiplier, g, outH, outW)
                && !InputGradient3x3Stride2(w, dy, dxOut, n, channels, height, width, multiplier, g, outH, outW))
                InputGradient(w, dy, dxOut, n, channels, height, width, multiplier, g, outH, outW);
            return;
        }
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
        if (dxOut is not null) InputGradient(w, dy, dxOut, n, channels, height, width, multiplier, g, outH, outW);
    }

    /// <summary>
    /// dW (and db) of output channel <paramref name="co"/> for a 3x3 window: per sample the input plane goes into 16-lane
    /// phases (8 output rows' worth at a time, so they are read from L1), and every 16-wide block of a dy row (the row's
    /// last one loaded under a mask, zeros past outW) is multiplied into nine accumulators held in registers, one per tap,
    /// and added into a tenth for db; their lanes are summed at the end (a fixed order).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void WeightGradient3x3(float* x, float* dy, float* dw, float[]? db, int co, int n, int channels, int cout, int multiplier,
        int inPlane, in Window2d g, in Phases geo, float* ph, float* row, int outH, int outW)
    {
        int ci = co / multiplier, outPlane = outH * outW, phaseW = geo.PhaseW, step = g.StrideH * phaseW;
        var (c0, c1, c2) = ColumnTaps(g, geo);
        Vector512<float> a00 = default, a01 = default, a02 = default, a10 = default, a11 = default, a12 = default, a20 = default, a21 = default, a22 = default;
        Vector512<float> sum = default;
        int full = outW / W * W;
        var mask = Vector512.LessThan(Iota, Vector512.Create((float)(outW - full)));
        for (int b = 0; b < n; b++)
        {
            float* pd = dy + (long)(b * cout + co) * outPlane;
            float* plane = x + (long)(b * channels + ci) * inPlane;
            for (int i = 0; i < outH; i++, pd += outW)
            {
                if (i % 8 == 0) geo.Fill(plane, ph, row, i * g.StrideH, (i + 7) * g.StrideH + 3);
                float* p = ph + i * step;
                for (int j0 = 0; j0 < outW; j0 += W)
                {
                    var d = j0 < full ? Vector512.Load(pd + j0) : Avx512F.MaskLoad(pd + j0, mask, Vector512<float>.Zero);
                    sum += d;
                    float* q = p + j0;
                    a00 = Vector512.FusedMultiplyAdd(d, Vector512.Load(q + c0), a00);
                    a01 = Vector512.FusedMultiplyAdd(d, Vector512.Load(q + c1), a01);
                    a02 = Vector512.FusedMultiplyAdd(d, Vector512.Load(q + c2), a02);
                    q += phaseW;
                    a10 = Vector512.FusedMultiplyAdd(d, Vector512.Load(q + c0), a10);
                    a11 = Vector512.FusedMultiplyAdd(d, Vector512.Load(q + c1), a11);
                    a12 = Vector512.FusedMultiplyAdd(d, Vector512.Load(q + c2), a12);
                    q += phaseW;
                    a20 = Vector512.FusedMultiplyAdd(d, Vector512.Load(q + c0), a20);
                    a21 = Vector512.FusedMultiplyAdd(d, Vector512.Load(q + c1), a21);
                    a22 = Vector512.FusedMultiplyAdd(d, Vector512.Load(q + c2), a22);
                }
            }
        }
        if (db is not null) db[co] += Vector512.Sum(sum);
        dw[0] += Vector512.Sum(a00); dw[1] += Vector512.Sum(a01); dw[2] += Vector512.Sum(a02);
        dw[3] += Vector512.Sum(a10); dw[4] += Vector512.Sum(a11); dw[5] += Vector512.Sum(a12);
        dw[6] += Vector512.Sum(a20); dw[7] += Vector512.Sum(a21); dw[8] += Vector512.Sum(a22);
    }

    /// <summary>
    /// <see cref="WeightGradient3x3"/> for stride 1 or 2 (both ways) and column dilation 1 straight from the image: the
    /// three image rows of a dy row are loaded in place under column masks (<see cref="LoadRow"/>,
    /// <see cref="LoadRowStride2"/>; rows outside the image skipped). Same accumulators, same order.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void WeightGradientDirect3x3(float* x, float* dy, float* dw, float[]? db, int co, int n, int channels, int cout, int multiplier,
        int height, int width, int stride, int pt, int pl, int outH, int outW)
    {
        int ci = co / multiplier, outPlane = outH * outW, inPlane = height * width;
        var mA = default(Vector512<float>); var mB = mA; var mC = mA; var mD = mA;
        Vector512<float> a00 = default, a01 = default, a02 = default, a10 = default, a11 = default, a12 = default, a20 = default, a21 = default, a22 = default;
        Vector512<float> sum = default;
        int full = outW / W * W;
        var mask = Vector512.LessThan(Iota, Vector512.Create((float)(outW - full)));
        for (int b = 0; b < n; b++)
        {
            float* pd = dy + (long)(b * cout + co) * outPlane;
            float* plane = x + (long)(b * channels + ci) * inPlane;
            for (int i = 0; i < outH; i++, pd += outW)
            {
                int r = i * stride - pt;
                for (int j0 = 0; j0 < outW; j0 += W)
                {
                    var d = j0 < full ? Vector512.Load(pd + j0) : Avx512F.MaskLoad(pd + j0, mask, Vector512<float>.Zero);
                    sum += d;
                    int c = j0 * stride - pl;
                    if (stride == 1)
                    {
                        mA = ColumnMask(c, width); mB = ColumnMask(c + 1, width); mC = ColumnMask(c + 2, width);
                    }
                    else
                    {
                        mA = ColumnMask(c, width); mB = ColumnMask(c + W, width); mC = ColumnMask(c + 2, width); mD = ColumnMask(c + 2 + W, width);
                    }
                    Vector512<float> x0, x1, x2;
                    if (stride == 1)
                    {
                        if ((uint)r < (uint)height)
                        {
                            LoadRow(plane, r, height, width, c, mA, mB, mC, out x0, out x1, out x2);
                            a00 = Vector512.FusedMultiplyAdd(d, x0, a00); a01 = Vector512.FusedMultiplyAdd(d, x1, a01); a02 = Vector512.FusedMultiplyAdd(d, x2, a02);
                        }
                        if ((uint)(r + 1) < (uint)height)
                        {
                            LoadRow(plane, r + 1, height, width, c, mA, mB, mC, out x0, out x1, out x2);
                            a10 = Vector512.FusedMultiplyAdd(d, x0, a10); a11 = Vector512.FusedMultiplyAdd(d, x1, a11); a12 = Vector512.FusedMultiplyAdd(d, x2, a12);
                        }
                        if ((uint)(r + 2) < (uint)height)
                        {
                            LoadRow(plane, r + 2, height, width, c, mA, mB, mC, out x0, out x1, out x2);
                            a20 = Vector512.FusedMultiplyAdd(d, x0, a20); a21 = Vector512.FusedMultiplyAdd(d, x1, a21); a22 = Vector512.FusedMultiplyAdd(d, x2, a22);
                        }
                    }
                    else
                    {
                        if ((uint)r < (uint)height)
                        {
                            LoadRowStride2(plane, r, height, width, c, mA, mB, mC, mD, out x0, out x1, out x2);
                            a00 = Vector512.FusedMultiplyAdd(d, x0, a00); a01 = Vector512.FusedMultiplyAdd(d, x1, a01); a02 = Vector512.FusedMultiplyAdd(d, x2, a02);
                        }
                        if ((uint)(r + 1) < (uint)height)
                        {
                            LoadRowStride2(plane, r + 1, height, width, c, mA, mB, mC, mD, out x0, out x1, out x2);
                            a10 = Vector512.FusedMultiplyAdd(d, x0, a10); a11 = Vector512.FusedMultiplyAdd(d, x1, a11); a12 = Vector512.FusedMultiplyAdd(d, x2, a12);
                        }
                        if ((uint)(r + 2) < (uint)height)
                        {
                            LoadRowStride2(plane, r + 2, height, width, c, mA, mB, mC, mD, out x0, out x1, out x2);
                            a20 = Vector512.FusedMultiplyAdd(d, x0, a20); a21 = Vector512.FusedMultiplyAdd(d, x1, a21); a22 = Vector512.FusedMultiplyAdd(d, x2, a22);
                        }
                    }
                }
            }
        }
        if (db is not null) db[co] += Vector512.Sum(sum);
        dw[0] += Vector512.Sum(a00); dw[1] += Vector512.Sum(a01); dw[2] += Vector512.Sum(a02);
        dw[3] += Vector512.Sum(a10); dw[4] += Vector512.Sum(a11); dw[5] += Vector512.Sum(a12);
        dw[6] += Vector512.Sum(a20); dw[7] += Vector512.Sum(a21); dw[8] += Vector512.Sum(a22);
    }

    /// <summary>A thread's flipped kernel for <see cref="TransposedAsForward"/>.</summary>
    [ThreadStatic] private static float[]? t_flip;

    /// <summary>
    /// dX of a stride-1, undilated 3x3 window with multiplier 1 and padding ≤ 2 on top and left, as a forward pass:
    ///   dx[n, c, y, x] = Σ_{u,v} w[c, u, v] · dy[n, c, y + pt − u, x + pl − v] = Σ_{u,v} w[c, 2 − u, 2 − v] · dy[n, c, y − (2 − pt) + u, x − (2 − pl) + v],
    /// the depthwise convolution of dy (padding 2 − pt, 2 − pl) with the flipped kernel. False (nothing written) otherwise.
    /// </summary>
    private static bool TransposedAsForward(float[] w, float[] dy, float[] dx, int n, int channels, int height, int width, int multiplier,
        in Window2d g, int outH, int outW)
    {
        if (multiplier != 1 || g.StrideH != 1 || g.StrideW != 1 || g.DilationW != 1 || g.PadTop > 2 || g.PadLeft > 2) return false;
        var flip = Buffer(ref t_flip, channels * 9);
        for (int c = 0; c < channels; c++)
            for (int t = 0; t < 9; t++) flip[c * 9 + t] = w[c * 9 + 8 - t];
        var gt = new Window2d(3, 3, 1, 1, 2 - g.PadTop, 2 - g.PadLeft, 0, 0, 1, 1);
        Forward(dy, flip, null, dx, n, channels, outH, outW, 1, gt, height, width);
        return true;
    }

    /// <summary>
    /// dX of an undilated 3x3 window with stride 2 and multiplier 1 (any padding), by output phase. In padded coordinates
    /// (Y, X) = (y + pt, x + pl) and D[a, b] = dy[a, b] (0 outside):
    ///   Y = 2a,     X = 2b:     w00·D[a, b] + w02·D[a, b − 1] + w20·D[a − 1, b] + w22·D[a − 1, b − 1]
    ///   Y = 2a,     X = 2b + 1: w01·D[a, b] + w21·D[a − 1, b]
    ///   Y = 2a + 1, X = 2b:     w10·D[a, b] + w12·D[a, b − 1]
    ///   Y = 2a + 1, X = 2b + 1: w11·D[a, b]
    /// Each dx row is built 16 values of b at a time (dy read in place under column masks; even and odd X interleaved) in a
    /// padded row and copied out from column pl. False (nothing written) for other windows.
    /// </summary>
    private static unsafe bool InputGradient3x3Stride2(float[] w, float[] dy, float[] dxOut, int n, int channels, int height, int width, int multiplier,
        Window2d g, int outH, int outW)
    {
        if (multiplier != 1 || g.KernelH != 3 || g.KernelW != 3 || g.StrideH != 2 || g.StrideW != 2 || g.DilationH != 1 || g.DilationW != 1
            || !Vector512.IsHardwareAccelerated || !Avx512F.IsSupported) return false;
        int pt = g.PadTop, pl = g.PadLeft, inPlane = height * width, outPlane = outH * outW;
        int bw = ((width + pl + 1) / 2 + W - 1) / W * W;             // b = 0 … bw − 1, whole vectors
        Parallelism.For(n * channels, (long)outPlane * 9, p =>
        {
            int c = p % channels;
            var rowBuf = Buffer(ref t_row, 2 * bw);
            fixed (float* pd = &dy[p * outPlane], pdx = &dxOut[p * inPlane], pw = &w[c * 9], row = rowBuf)
                Stride2Rows(pd, outH, outW, bw, pw, row, pdx, height, width, pt, pl);
        });
        return true;
    }

    /// <summary>The rows of one dx plane from its dy plane (see <see cref="InputGradient3x3Stride2"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Stride2Rows(float* dy, int outH, int outW, int bw, float* wk, float* row, float* dx, int height, int width, int pt, int pl)
    {
        Vector512<float> w00 = Vector512.Create(wk[0]), w01 = Vector512.Create(wk[1]), w02 = Vector512.Create(wk[2]);
        Vector512<float> w10 = Vector512.Create(wk[3]), w11 = Vector512.Create(wk[4]), w12 = Vector512.Create(wk[5]);
        Vector512<float> w20 = Vector512.Create(wk[6]), w21 = Vector512.Create(wk[7]), w22 = Vector512.Create(wk[8]);
        var lo = Vector512.Create(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
        var hi = lo + Vector512.Create(8);
        var zero = Vector512<float>.Zero;
        for (int yy = 0; yy < height; yy++)
        {
            int Y = yy + pt, a = Y >> 1, parity = Y & 1;
            bool hasCur = a < outH, hasPrev = parity == 0 && a >= 1 && a - 1 < outH;
            float* cur = dy + a * outW, prev = cur - outW;
            for (int b0 = 0; b0 < bw; b0 += W)
            {
                var m1 = ColumnMask(b0, outW);          // D[·, b]
                var m0 = ColumnMask(b0 - 1, outW);      // D[·, b − 1]
                Vector512<float> c1 = zero, c0 = zero, even, odd;
                if (hasCur)
                {
                    c1 = Avx512F.MaskLoad(cur + b0, m1, zero);
                    c0 = Avx512F.MaskLoad(cur + b0 - 1, m0, zero);
                }
                if (parity == 0)
                {
                    Vector512<float> p1 = zero, p0 = zero;
                    if (hasPrev)
                    {
                        p1 = Avx512F.MaskLoad(prev + b0, m1, zero);
                        p0 = Avx512F.MaskLoad(prev + b0 - 1, m0, zero);
                    }
                    even = Vector512.FusedMultiplyAdd(w22, p0, Vector512.FusedMultiplyAdd(w20, p1, Vector512.FusedMultiplyAdd(w02, c0, w00 * c1)));
                    odd = Vector512.FusedMultiplyAdd(w21, p1, w01 * c1);
                }
                else
                {
                    even = Vector512.FusedMultiplyAdd(w12, c0, w10 * c1);
                    odd = w11 * c1;
                }
                Avx512F.PermuteVar16x32x2(even, lo, odd).Store(row + 2 * b0);
                Avx512F.PermuteVar16x32x2(even, hi, odd).Store(row + 2 * b0 + W);
            }
            new ReadOnlySpan<float>(row + pl, width).CopyTo(new Span<float>(dx + yy * width, width));
        }
    }

    /// <summary>dX by the phase scatter: per input plane, w·dy of its output channels added into zeroed phases at the taps' offsets, then read back onto the image.</summary>
    private static unsafe void InputGradient(float[] w, float[] dy, float[] dxOut, int n, int channels, int height, int width, int multiplier,
        Window2d g, int outH, int outW)
    {
        int cout = channels * multiplier, inPlane = height * width, outPlane = outH * outW, taps = g.KernelH * g.KernelW;
        var geo = new Phases(g, height, width, outH, outW);
        int rowLen = geo.BlocksW * V;
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
