using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MLConv.Training.Kernels;

/// <summary>How a pooling window is reduced.</summary>
public enum PoolMode
{
    /// <summary>The largest value of the window.</summary>
    Max,
    /// <summary>The smallest value of the window.</summary>
    Min,
    /// <summary>The window's mean.</summary>
    Average,
}

/// <summary>
/// One pooling kernel for max, min and average pooling over N·C independent planes.
/// Max/min select one element per window (the first on ties, as PyTorch) and remember its index,
/// so backward routes dY there: dX[arg] += dY. Average divides the window sum by the window
/// size — clipped to the padded input, or to the real input when padding is not counted
/// (PyTorch's rule, also for ceil-mode windows that run past the padding) — and backward spreads
/// dY / divisor over the same elements. Padding never wins a max/min.
/// </summary>
public static class Pool2d
{
    private interface IReduction
    {
        static abstract bool Selects { get; }
        static abstract float Seed { get; }
        /// <summary>Whether <paramref name="candidate"/> strictly beats <paramref name="current"/> (selecting reductions only).</summary>
        static abstract bool Takes(float candidate, float current);
    }

    private struct MaxReduction : IReduction
    {
        public static bool Selects => true;
        public static float Seed => float.NegativeInfinity;
        public static bool Takes(float v, float cur) => v > cur;
    }

    private struct MinReduction : IReduction
    {
        public static bool Selects => true;
        public static float Seed => float.PositiveInfinity;
        public static bool Takes(float v, float cur) => v < cur;
    }

    private struct SumReduction : IReduction
    {
        public static bool Selects => false;
        public static float Seed => 0f;
        public static bool Takes(float v, float cur) => false;   // not used: averages sum
    }

    /// <summary>Pools <paramref name="planes"/> independent height×width planes of <paramref name="x"/> into outH×outW planes of <paramref name="y"/>.</summary>
    /// <param name="mode">Max, min or average.</param>
    /// <param name="x">Input, planes·height·width values (plane-major, row-major).</param>
    /// <param name="planes">Independent planes (N·C).</param>
    /// <param name="height">Input plane height.</param>
    /// <param name="width">Input plane width.</param>
    /// <param name="g">Kernel, stride, padding and dilation.</param>
    /// <param name="countIncludePad">Average: divide by the window clipped to the padded input (true) or to the real input (false).</param>
    /// <param name="y">Output, planes·outH·outW values.</param>
    /// <param name="outH">Output plane height (from <see cref="Window2d.OutputSize"/>).</param>
    /// <param name="outW">Output plane width.</param>
    /// <param name="argIndex">For max/min: receives the in-plane index of the selected element (may be empty for average).</param>
    public static void Forward(PoolMode mode, float[] x, int planes, int height, int width, Window2d g,
        bool countIncludePad, float[] y, int outH, int outW, int[] argIndex)
    {
        switch (mode)
        {
            case PoolMode.Max: Forward<MaxReduction>(x, planes, height, width, g, countIncludePad, y, outH, outW, argIndex); break;
            case PoolMode.Min: Forward<MinReduction>(x, planes, height, width, g, countIncludePad, y, outH, outW, argIndex); break;
            default: Forward<SumReduction>(x, planes, height, width, g, countIncludePad, y, outH, outW, argIndex); break;
        }
    }

    /// <summary>
    /// Max or min pooling without arg indices (inference): y = the window's max (min), NaN propagating, −∞ (+∞) for a
    /// window entirely in the padding — the values <see cref="Forward"/> gives (same selecting rule). Per output row the
    /// window's input rows are first reduced element-wise into one row (vectorised), then each output takes its kw taps
    /// of that row (eight outputs at a time for stride 2, from the row's even and odd columns). Planes are split over the threads.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="mode"/> is <see cref="PoolMode.Average"/>, or a buffer is too short.</exception>
    public static void ForwardValues(PoolMode mode, float[] x, int planes, int height, int width, Window2d g, float[] y, int outH, int outW)
    {
        if (mode == PoolMode.Average) throw new ArgumentException("ForwardValues selects (max or min); average pooling runs Forward.", nameof(mode));
        if (x.Length < (long)planes * height * width || y.Length < (long)planes * outH * outW)
            throw new ArgumentException($"x ({x.Length}) or y ({y.Length}) is too short for {planes} planes of {height}x{width} -> {outH}x{outW}.");
        var job = new ValuesJob(mode == PoolMode.Max, x, height, width, g, y, outH, outW);
        Parallelism.For(planes, (long)outH * outW * g.KernelH * g.KernelW / 4, job, static (in ValuesJob j, int p) =>
        {
            if (j.Max) ValuesPlane<MaxReduction>(j, p);
            else ValuesPlane<MinReduction>(j, p);
        });
    }

    private readonly record struct ValuesJob(bool Max, float[] X, int Height, int Width, Window2d G, float[] Y, int OutH, int OutW);

    private static unsafe void ValuesPlane<TR>(in ValuesJob j, int p) where TR : struct, IReduction
    {
        int height = j.Height, width = j.Width, outH = j.OutH, outW = j.OutW;
        var g = j.G;
        int sw = g.StrideW, dw = g.DilationW, kw = g.KernelW, pl = g.PadLeft;
        ReadOnlySpan<float> xs = j.X.AsSpan(p * height * width, height * width);
        Span<float> ys = j.Y.AsSpan(p * outH * outW, outH * outW);
        float[]? rented = width > 2048 ? System.Buffers.ArrayPool<float>.Shared.Rent(width) : null;
        Span<float> row = rented is null ? stackalloc float[width] : rented.AsSpan(0, width);
        // Outputs [owA, owB) have their whole window inside the row; with stride 2 (no dilation) eight of them at a time
        // take their taps from the row split into even and odd columns (two loads and two shuffles per tap).
        var (owA, owB) = Interior(pl, sw, kw, dw, width, outW);
        bool pairs = sw == 2 && dw == 1 && Avx2.IsSupported;
        for (int oh = 0; oh < outH; oh++)
        {
            int y0 = oh * g.StrideH - g.PadTop;
            var (u0, u1) = Taps(y0, g.KernelH, g.DilationH, height);
            var yr = ys.Slice(oh * outW, outW);
            if (u0 == u1) { yr.Fill(TR.Seed); continue; }
            // r[w] = the reduction over the window's rows of x[row, w], rows in window order
            scoped ReadOnlySpan<float> r = xs.Slice((y0 + u0 * g.DilationH) * width, width);
            if (u1 - u0 > 1)
            {
                PickRows<TR>(r, xs.Slice((y0 + (u0 + 1) * g.DilationH) * width, width), row);
                for (int u = u0 + 2; u < u1; u++) PickRows<TR>(row, xs.Slice((y0 + u * g.DilationH) * width, width), row);
                r = row;
            }
            int ow = 0;
            for (; ow < owA; ow++) yr[ow] = EdgeTap<TR>(r, ow * sw - pl, kw, dw, width);
            if (pairs)
                fixed (float* pr = r)
                    for (; ow + 8 <= owB && 2 * ow - pl + (kw & ~1) + 16 <= width; ow += 8)
                    {
                        float* b = pr + 2 * ow - pl;
                        var acc = Half(b, odd: false);
                        for (int v = 1; v < kw; v++) acc = Pick<TR>(acc, Half(b + (v & ~1), odd: (v & 1) != 0));
                        acc.Store((float*)Unsafe.AsPointer(ref yr[ow]));
                    }
            for (; ow < owB; ow++)
            {
                int x0 = ow * sw - pl;
                float acc = r[x0];
                for (int v = 1; v < kw; v++) acc = Pick<TR>(acc, r[x0 + v * dw]);
                yr[ow] = acc;
            }
            for (; ow < outW; ow++) yr[ow] = EdgeTap<TR>(r, ow * sw - pl, kw, dw, width);
        }
        if (rented is not null) System.Buffers.ArrayPool<float>.Shared.Return(rented);
    }

    /// <summary>One output of a row from its taps inside [0, width): the seed (±∞) when none is.</summary>
    private static float EdgeTap<TR>(ReadOnlySpan<float> r, int x0, int kw, int dw, int width) where TR : struct, IReduction
    {
        var (v0, v1) = Taps(x0, kw, dw, width);
        if (v0 == v1) return TR.Seed;
        float acc = r[x0 + v0 * dw];
        for (int v = v0 + 1; v < v1; v++) acc = Pick<TR>(acc, r[x0 + v * dw]);
        return acc;
    }

    /// <summary>The selecting rule of <see cref="Forward"/> on values: a strict improvement or a NaN replaces the current one.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Pick<TR>(float current, float candidate) where TR : struct, IReduction =>
        TR.Takes(candidate, current) | float.IsNaN(candidate) ? candidate : current;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Pick<TR>(Vector256<float> current, Vector256<float> candidate) where TR : struct, IReduction =>
        Vector256.ConditionalSelect(Takes<TR>(current, candidate), candidate, current);

    /// <summary>The lanes where <paramref name="candidate"/> replaces <paramref name="current"/>: a strict improvement or a NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Takes<TR>(Vector256<float> current, Vector256<float> candidate) where TR : struct, IReduction =>
        (TR.Seed < 0 ? Vector256.GreaterThan(candidate, current) : Vector256.LessThan(candidate, current)) | ~Vector256.Equals(candidate, candidate);

    /// <summary>dst = Pick(a, b) element-wise (dst may be a).</summary>
    private static void PickRows<TR>(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> dst) where TR : struct, IReduction
    {
        int i = 0, n = dst.Length;
        for (; i + 8 <= n; i += 8)
            Pick<TR>(Vector256.Create(a.Slice(i, 8)), Vector256.Create(b.Slice(i, 8))).CopyTo(dst.Slice(i, 8));
        for (; i < n; i++) dst[i] = Pick<TR>(a[i], b[i]);
    }

    /// <summary>The even (or odd) elements of p[0..16): p[0], p[2], …, p[14] (or p[1], …, p[15]).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe Vector256<float> Half(float* p, bool odd)
    {
        Vector256<float> a = Avx.LoadVector256(p), b = Avx.LoadVector256(p + 8);
        var mixed = odd ? Avx.Shuffle(a, b, 0xDD) : Avx.Shuffle(a, b, 0x88);   // [a0 a2 b0 b2 a4 a6 b4 b6]
        return Avx2.Permute4x64(mixed.AsDouble(), 0xD8).AsSingle();            // [a0 a2 a4 a6 b0 b2 b4 b6]
    }

    private static void Forward<TR>(float[] x, int planes, int height, int width, Window2d g,
        bool countIncludePad, float[] y, int outH, int outW, int[] argIndex) where TR : struct, IReduction
    {
        int inPlane = height * width, outPlane = outH * outW;
        Parallelism.For(planes, (long)outPlane * g.KernelH * g.KernelW, p =>
            ForwardPlane<TR>(x.AsSpan(p * inPlane, inPlane), height, width, g, countIncludePad,
                y.AsSpan(p * outPlane, outPlane), outH, outW, TR.Selects ? argIndex.AsSpan(p * outPlane, outPlane) : default));
    }

    /// <summary>
    /// One plane; everything the loops read is a local or a parameter (not a closure field). Windows wholly inside the
    /// input (all but a border one window wide) go 8 outputs at a time through <see cref="InteriorBlock{TR}"/>; the rest,
    /// and machines without AVX2, one output at a time. Both visit the taps in the same order with the same rule, so the
    /// results (values and arg indices) are the same either way.
    /// </summary>
    private static unsafe void ForwardPlane<TR>(ReadOnlySpan<float> xs, int height, int width, Window2d g, bool countIncludePad,
        Span<float> ys, int outH, int outW, Span<int> args) where TR : struct, IReduction
    {
        int sh = g.StrideH, sw = g.StrideW;
        // Interior: y0 = oh·sh − pt ≥ 0 and y0 + (kh − 1)·dh < height; the same across.
        var (ohA, ohB) = Interior(g.PadTop, sh, g.KernelH, g.DilationH, height, outH);
        var (owA, owB) = Interior(g.PadLeft, sw, g.KernelW, g.DilationW, width, outW);
        bool simd = Avx2.IsSupported && owB - owA >= 8;
        fixed (float* px = xs, py = ys)
        fixed (int* pa = args)
        {
            for (int oh = 0; oh < outH; oh++)
            {
                int ow = 0;
                if (simd && oh >= ohA && oh < ohB)
                {
                    for (; ow < owA; ow++) Output<TR>(px, height, width, g, countIncludePad, py, outW, pa, oh, ow);
                    for (; ow + 8 <= owB; ow += 8) InteriorBlock<TR>(px, width, g, py, outW, pa, oh, ow);
                }
                for (; ow < outW; ow++) Output<TR>(px, height, width, g, countIncludePad, py, outW, pa, oh, ow);
            }
        }
    }

    /// <summary>Outputs (oh, ow … ow + 7), all eight windows inside the input: the taps row by row, 8 lanes at a time (AVX2 gathers for strides above 1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void InteriorBlock<TR>(float* xs, int width, in Window2d g, float* ys, int outW, int* args, int oh, int ow)
        where TR : struct, IReduction
    {
        int sw = g.StrideW, y0 = oh * g.StrideH - g.PadTop, x0 = ow * sw - g.PadLeft;
        var lanes = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7) * sw;
        int first = y0 * width + x0;
        var acc = Load(xs + first, lanes, sw);
        var arg = lanes + Vector256.Create(first);
        for (int u = 0; u < g.KernelH; u++)
        {
            int row = (y0 + u * g.DilationH) * width + x0;
            for (int v = 0; v < g.KernelW; v++)
            {
                int idx = row + v * g.DilationW;
                var val = Load(xs + idx, lanes, sw);
                if (TR.Selects)
                {
                    // A strict improvement or a NaN moves the arg, as in the scalar loop.
                    var take = Takes<TR>(acc, val);
                    acc = Vector256.ConditionalSelect(take, val, acc);
                    arg = Vector256.ConditionalSelect(take.AsInt32(), lanes + Vector256.Create(idx), arg);
                }
                else acc = u == 0 && v == 0 ? val : acc + val;
            }
        }
        int o = oh * outW + ow;
        if (TR.Selects) arg.Store(args + o);
        else acc /= g.KernelH * g.KernelW;
        acc.Store(ys + o);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe Vector256<float> Load(float* p, Vector256<int> lanes, int stride) =>
        stride == 1 ? Vector256.Load(p) : Avx2.GatherVector256(p, lanes, 4);

    /// <summary>Output (oh, ow), one tap at a time (borders, padding, dilated windows that miss the input).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Output<TR>(float* xs, int height, int width, in Window2d g, bool countIncludePad, float* ys, int outW, int* args, int oh, int ow)
        where TR : struct, IReduction
    {
        int dh = g.DilationH, dw = g.DilationW;
        int y0 = oh * g.StrideH - g.PadTop;
        var (u0, u1) = Taps(y0, g.KernelH, dh, height);
        int x0 = ow * g.StrideW - g.PadLeft;
        var (v0, v1) = Taps(x0, g.KernelW, dw, width);
        int o = oh * outW + ow;
        if (TR.Selects)
        {
            if (u0 == u1 || v0 == v1)
            {
                // A dilated window can fall entirely in the padding: −∞ (max) / +∞ (min) as PyTorch, no gradient.
                ys[o] = TR.Seed;
                args[o] = -1;
                return;
            }
            // Padding never wins: start from the first element inside the input; ties keep the earlier one.
            int arg = (y0 + u0 * dh) * width + x0 + v0 * dw;
            float acc = xs[arg];
            for (int u = u0; u < u1; u++)
            {
                int row = (y0 + u * dh) * width + x0;
                for (int v = v0; v < v1; v++)
                {
                    int idx = row + v * dw;
                    float val = xs[idx];
                    // Branch-free select (a branch here mispredicts about once per window on real data):
                    // a strict improvement or a NaN moves the arg (so y = x[arg] always, NaN propagates as in PyTorch).
                    bool take = TR.Takes(val, acc) | float.IsNaN(val);
                    arg += (idx - arg) & -(take ? 1 : 0);
                    acc = take ? val : acc;
                }
            }
            ys[o] = acc;
            args[o] = arg;
        }
        else
        {
            float acc = 0f;
            for (int u = u0; u < u1; u++)
            {
                int row = (y0 + u * dh) * width + x0;
                for (int v = v0; v < v1; v++) acc += xs[row + v * dw];
            }
            int divisor = Bounds(g, oh, ow, height, width, countIncludePad).Divisor;
            ys[o] = divisor > 0 ? acc / divisor : 0f;
        }
    }

    /// <summary>The taps [k0, k1) of a window starting at <paramref name="begin"/> that fall inside [0, extent).</summary>
    private static (int K0, int K1) Taps(int begin, int kernel, int dilation, int extent)
    {
        if (dilation == 1)   // the common case, without the integer divisions
        {
            int a = Math.Max(0, -begin), b = Math.Min(kernel, extent - begin);
            return (a, Math.Max(a, b));
        }
        int k0 = begin >= 0 ? 0 : (-begin + dilation - 1) / dilation;
        int k1 = begin >= extent ? 0 : Math.Min(kernel, (extent - 1 - begin) / dilation + 1);
        return (k0, Math.Max(k0, k1));
    }

    /// <summary>dX += the gradient routed back from dY (the caller clears dX first).</summary>
    public static void Backward(PoolMode mode, float[] dy, int planes, int height, int width, Window2d g,
        bool countIncludePad, int outH, int outW, int[] argIndex, float[] dx)
    {
        int inPlane = height * width, outPlane = outH * outW;
        Parallelism.For(planes, (long)outPlane * g.KernelH * g.KernelW, p =>
        {
            var dxs = dx.AsSpan(p * inPlane, inPlane);
            for (int oh = 0; oh < outH; oh++)
            for (int ow = 0; ow < outW; ow++)
            {
                int o = p * outPlane + oh * outW + ow;
                if (mode != PoolMode.Average)
                {
                    int arg = argIndex[o];
                    if (arg >= 0) dxs[arg] += dy[o];
                    continue;
                }
                var win = Bounds(g, oh, ow, height, width, countIncludePad);
                if (win.Divisor <= 0) continue;
                float share = dy[o] / win.Divisor;
                for (int ki = 0; ki < g.KernelH; ki++)
                {
                    int yy = win.Y0 + ki * g.DilationH;
                    if ((uint)yy >= (uint)height) continue;
                    for (int kj = 0; kj < g.KernelW; kj++)
                    {
                        int xx = win.X0 + kj * g.DilationW;
                        if ((uint)xx < (uint)width) dxs[yy * width + xx] += share;
                    }
                }
            }
        });
    }

    private readonly record struct Window(int Y0, int X0, int Divisor);

    /// <summary>Window origin and the average divisor (PyTorch's avg_pool2d rule).</summary>
    private static Window Bounds(in Window2d g, int oh, int ow, int height, int width, bool countIncludePad)
    {
        int y0 = oh * g.StrideH - g.PadTop, x0 = ow * g.StrideW - g.PadLeft;
        int divisor;
        if (countIncludePad)
        {
            int y1 = Math.Min(y0 + g.EffectiveKernelH, height + g.PadBottom);
            int x1 = Math.Min(x0 + g.EffectiveKernelW, width + g.PadRight);
            divisor = Count(y0, y1, g.DilationH) * Count(x0, x1, g.DilationW);
        }
        else
        {
            var (u0, u1) = Taps(y0, g.KernelH, g.DilationH, height);
            var (v0, v1) = Taps(x0, g.KernelW, g.DilationW, width);
            divisor = (u1 - u0) * (v1 - v0);
        }
        return new Window(y0, x0, divisor);
    }

    /// <summary>The outputs [A, B) along one axis whose whole window, first tap and last, reads inside [0, extent).</summary>
    private static (int A, int B) Interior(int pad, int stride, int kernel, int dilation, int extent, int outputs)
    {
        var (a0, b0) = Window2d.Inside(-pad, stride, extent, outputs);
        var (a1, b1) = Window2d.Inside((kernel - 1) * dilation - pad, stride, extent, outputs);
        int a = Math.Max(a0, a1);
        return (a, Math.Max(a, Math.Min(b0, b1)));
    }

    // Taps of a dilated window starting at b that fall before e.
    private static int Count(int b, int e, int dilation) => e <= b ? 0 : (e - b - 1) / dilation + 1;
}
