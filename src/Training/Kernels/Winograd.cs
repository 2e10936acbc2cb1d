using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace MLConv.Training.Kernels;

/// <summary>
/// Winograd convolution F(m×m, 3×3) (m = 2 or 4, α = m + 2) for 3x3, stride 1, dilation 1, groups 1, padding 0..2 per side.
/// The output plane is cut into m×m tiles; tile (i, j) reads the α×α input patch d at rows i·m − pt.., columns j·m − pl..
/// (zero outside the image). Per tile, input channel c and output channel o (ξ = (p, q) one of the α² transform points):
///   V[ξ][c] = (Bᵀ d_c B)[ξ],   U[ξ][o][c] = (G g_oc Gᵀ)[ξ],   M[ξ][o] = Σ_c U[ξ][o][c] · V[ξ][c],   y tile = Aᵀ M A (+ b, ReLU)
/// so, over a block of T tiles, the reduction over channels is one GEMM per point: M[ξ] (Cout × T) = U[ξ] (Cout × Cin) · V[ξ] (Cin × T).
/// F(2×2, 3×3), points 0, ±1, ∞:
///   Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1],  G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1],  Aᵀ = [1 1 1 0; 0 1 −1 −1]
/// F(4×4, 3×3), points 0, ±1, ±2, ∞:
///   Bᵀ = [4 0 −5 0 1 0; 0 −4 −4 1 1 0; 0 4 −4 −1 1 0; 0 −2 −1 2 1 0; 0 2 −1 −2 1 0; 0 4 0 −5 0 1]
///   G  = [¼ 0 0; −⅙ −⅙ −⅙; −⅙ ⅙ −⅙; 1⁄24 1⁄12 ⅙; 1⁄24 −1⁄12 ⅙; 0 0 1]
///   Aᵀ = [1 1 1 1 1 0; 0 1 −1 2 −2 0; 0 1 1 4 4 0; 0 1 −1 8 −8 1]
/// Tiles are numbered over the batch, t = (sample·tilesH + i)·tilesW + j, and taken in blocks of T (32..256) whose
/// V (α²·Cin·T) and M (α²·Cout·T) stay within a thread's share of the cache. Layouts: V[ξ][c][t], M[ξ][o][t] (t contiguous:
/// the GEMMs' B and C), and the transforms run on 8 tiles at once (one Vector256 lane each). Blocks go to different threads
/// when U is small (≤ 1 MiB) and there are tiles enough; otherwise blocks run in turn and each stage of a block (input
/// transform over channels, GEMMs over points, output transform over output channels) is spread, so that each thread
/// streams only its points' U. Every value is computed by one thread in a fixed order: results do not depend on the
/// thread count. The weights are transformed per call (training) or once (<see cref="Weights"/> with packing, for an
/// inference plan). In float32, F(4×4) stays within 1e-4 of direct summation relative to the output range (tested at 256 channels).
/// The input gradient of such a convolution is another one (<see cref="InputGradient"/>).
/// </summary>
internal static class Winograd
{
    private const int Lanes = 8;

    /// <summary>Floats of V and M a block aims at (4 MiB).</summary>
    private const int BlockFloats = 1 << 20;
    /// <summary>Floats of U (1 MiB) above which blocks run in turn with their stages spread over the threads.</summary>
    private const int SpreadFloats = 1 << 18;

    /// <summary>Forces the tile size for tests and measurements: 0 = the measured choice (<see cref="TileFor"/>), −1 = never, 2 or 4 = always when supported.</summary>
    internal static int Override { get; set; }

    /// <summary>3x3, stride 1, dilation 1, one group, each padding in 0..2 (so that the input gradient is again such a convolution).</summary>
    public static bool Supports(in Window2d g, int groups) =>
        groups == 1 && g.KernelH == 3 && g.KernelW == 3 && g.StrideH == 1 && g.StrideW == 1 && g.DilationH == 1 && g.DilationW == 1
        && g.PadTop is >= 0 and <= 2 && g.PadLeft is >= 0 and <= 2 && g.PadBottom is >= 0 and <= 2 && g.PadRight is >= 0 and <= 2;

    /// <summary>
    /// The output tile size m to run a supported convolution with (2 or 4), or 0 where im2col + GEMM is faster (measured;
    /// see README "Speed"): fewer than 32 channels on either side, outputs under 4×4, or fewer than 12 tiles in all across
    /// the <paramref name="batch"/> (one 7×7 map makes 4: its per-point GEMMs would be 4 columns wide; im2col's are 49).
    /// </summary>
    public static int TileFor(int inChannels, int outChannels, int outH, int outW, int batch = int.MaxValue)
    {
        if (Override != 0) return Math.Max(0, Override);
        if (inChannels < 32 || outChannels < 32 || outH < 4 || outW < 4) return 0;
        long tiles = Math.Min(batch, 12L) * Math.Min(((long)outH + 3) / 4, 12L) * Math.Min(((long)outW + 3) / 4, 12L);   // saturated: no overflow
        return tiles < 12 ? 0 : 4;
    }

    /// <summary>y = W ⋆ x + b (ReLU when asked) through F(m×m, 3×3), m = <paramref name="tile"/>; the weights are transformed for this call unless <paramref name="prepared"/> holds them (then <paramref name="w"/> is not read).</summary>
    public static void Forward(float[] x, float[] w, float[]? bias, float[] y, int n, int inChannels, int height, int width,
        int outChannels, in Window2d g, int outH, int outW, bool relu, int tile, Weights? prepared = null)
    {
        if (prepared is not null && !prepared.Fits(outChannels, inChannels, inputGradient: false))
            throw new ArgumentException($"The prepared weights are not those of a {outChannels}x{inChannels}x3x3 convolution.", nameof(prepared));
        using var owned = prepared is null ? new Weights(w, outChannels, inChannels, tile, inputGradient: false) : null;
        Run(x, prepared ?? owned!, bias, y, n, height, width, g.PadTop, g.PadLeft, outH, outW, relu);
    }

    /// <summary>
    /// dX of y = W ⋆ x (stride 1): the convolution of dY, padded by 2 − pad on each side, with the kernel rotated by 180°
    /// and its channel axes swapped, w'[c][o][u][v] = w[o][c][2 − u][2 − v]; run through <see cref="Forward"/>'s kernel.
    /// </summary>
    public static void InputGradient(float[] w, float[] dy, float[] dx, int n, int inChannels, int height, int width,
        int outChannels, in Window2d g, int outH, int outW, int tile)
    {
        using var weights = new Weights(w, outChannels, inChannels, tile, inputGradient: true);
        Run(dy, weights, null, dx, n, outH, outW, 2 - g.PadTop, 2 - g.PadLeft, height, width, relu: false);
    }

    /// <summary>The shapes of one run: tiles, their blocks, and the buffers a block needs.</summary>
    private readonly struct Plan
    {
        public readonly int N, Cin, H, W, Cout, PadTop, PadLeft, OutH, OutW, M, A, TilesH, TilesW, Total, Block, Blocks;
        /// <summary>Blocks in turn, each stage spread over the threads (U larger than L2: each thread then streams part of it), rather than a block per thread.</summary>
        public readonly bool Spread;

        public Plan(int n, int cin, int h, int w, int cout, int pt, int pl, int oh, int ow, int m)
        {
            N = n; Cin = cin; H = h; W = w; Cout = cout; PadTop = pt; PadLeft = pl; OutH = oh; OutW = ow; M = m; A = m + 2;
            TilesH = (oh + m - 1) / m; TilesW = (ow + m - 1) / m; Total = n * TilesH * TilesW;
            // Wide GEMMs (T a multiple of 32, up to 256 tiles) with V and M of a block within BlockFloats (a thread's share
            // of L2; four times that, in L3, for blocks spread over the threads); with a block per thread, also no more tiles
            // than give each thread one.
            int threads = Parallelism.MaxThreads, perThread = (Total + threads - 1) / threads;
            Spread = threads > 1 && ((long)A * A * cin * cout > SpreadFloats || perThread < 32);
            int fit = (Spread ? 4 * BlockFloats : BlockFloats) / (A * A * (cin + cout)) / 32 * 32;
            int cap = Spread ? 256 : Math.Min(256, (perThread + 31) / 32 * 32);
            Block = Math.Min(RoundUp(Total), Math.Max(32, Math.Min(fit, cap)));
            Blocks = (Total + Block - 1) / Block;
        }

        public int Points => A * A;
        public int BufferLength => Points * (VStride(Block) + MStride(Block));

        // One point's V (Cin × ld) and M (Cout × ld) are a cache line longer than their matrices, so that the α² streams
        // a transform writes or reads do not fall on one cache set (ld·channels is often a multiple of 4 KiB).
        public int VStride(int ld) => Cin * ld + 16;
        public int MStride(int ld) => Cout * ld + 16;
        public int MBase(int ld) => Points * VStride(ld);
    }

    private static int RoundUp(int tiles) => (tiles + Lanes - 1) / Lanes * Lanes;

    private static void Run(float[] x, Weights u, float[]? bias, float[] y, int n, int h, int w, int pt, int pl, int oh, int ow, bool relu)
    {
        var p = new Plan(n, u.Cols, h, w, u.Rows, pt, pl, oh, ow, u.Tile);
        if (p.Total == 0 || p.Cout == 0) return;
        if (!p.Spread)
        {
            Parallelism.For(p.Blocks, (long)p.Points * p.Cin * p.Cout * p.Block, (P: p, X: x, U: u, Bias: bias, Y: y, Relu: relu),
                static (in (Plan P, float[] X, Weights U, float[]? Bias, float[] Y, bool Relu) j, int b) =>
                {
                    var p = j.P;
                    var buffer = ArrayPool<float>.Shared.Rent(p.BufferLength);
                    try
                    {
                        int t0 = b * p.Block, count = Math.Min(p.Block, p.Total - t0);
                        InputStage(p, j.X, buffer, t0, count, 0, p.Cin);
                        GemmStage(p, j.U, buffer, count, 0, p.Points);
                        OutputStage(p, buffer, j.Bias, j.Y, j.Relu, t0, count, 0, p.Cout);
                    }
                    finally { ArrayPool<float>.Shared.Return(buffer); }
                });
            return;
        }
        var shared = ArrayPool<float>.Shared.Rent(p.BufferLength);
        try
        {
            for (int b = 0; b < p.Blocks; b++)
                BlockSpread(p, x, u, bias, y, relu, shared, b);
        }
        finally { ArrayPool<float>.Shared.Return(shared); }
    }

    /// <summary>One block with each stage split over the threads (channels, points, output channels): same values as serial.</summary>
    private static void BlockSpread(Plan p, float[] x, Weights u, float[]? bias, float[] y, bool relu, float[] buffer, int b)
    {
        int t0 = b * p.Block, count = Math.Min(p.Block, p.Total - t0), threads = Parallelism.MaxThreads;
        int perC = (p.Cin + threads - 1) / threads, perPoint = (p.Points + threads - 1) / threads, perO = (p.Cout + threads - 1) / threads;
        long tileWork = (long)RoundUp(count) * p.Points;
        var job = (P: p, X: x, U: u, Bias: bias, Y: y, Relu: relu, Buffer: buffer, T0: t0, Count: count, PerC: perC, PerPoint: perPoint, PerO: perO);
        Parallelism.For(threads, perC * tileWork * 4, job, static (in (Plan P, float[] X, Weights U, float[]? Bias, float[] Y, bool Relu, float[] Buffer, int T0, int Count, int PerC, int PerPoint, int PerO) j, int part) =>
            InputStage(j.P, j.X, j.Buffer, j.T0, j.Count, part * j.PerC, Math.Min(j.P.Cin, (part + 1) * j.PerC)));
        Parallelism.For(threads, (long)perPoint * p.Cin * p.Cout * count, job, static (in (Plan P, float[] X, Weights U, float[]? Bias, float[] Y, bool Relu, float[] Buffer, int T0, int Count, int PerC, int PerPoint, int PerO) j, int part) =>
            GemmStage(j.P, j.U, j.Buffer, j.Count, part * j.PerPoint, Math.Min(j.P.Points, (part + 1) * j.PerPoint)));
        Parallelism.For(threads, perO * tileWork * 2, job, static (in (Plan P, float[] X, Weights U, float[]? Bias, float[] Y, bool Relu, float[] Buffer, int T0, int Count, int PerC, int PerPoint, int PerO) j, int part) =>
            OutputStage(j.P, j.Buffer, j.Bias, j.Y, j.Relu, j.T0, j.Count, part * j.PerO, Math.Min(j.P.Cout, (part + 1) * j.PerO)));
    }

    /// <summary>V[ξ][c][t] = (Bᵀ d B)[ξ] for channels [c0, c1) of tiles [t0, t0 + count); the block's pad tiles (up to a multiple of 8) get zeros.</summary>
    private static unsafe void InputStage(in Plan p, float[] x, float[] buffer, int t0, int count, int c0, int c1)
    {
        if (c0 >= c1) return;
        int a = p.A, ld = RoundUp(count), plane = p.H * p.W, perImage = p.TilesH * p.TilesW, width = p.W;
        long pointStride = p.VStride(ld);
        float* d = stackalloc float[36 * Lanes];
        float* tmp = stackalloc float[36 * Lanes];
        // Per lane: the patch's first element (sample's channel 0) and the rows [r0, r1) and columns [s0, s1) of the
        // patch inside the image (r1 = 0 for a pad tile); a patch wholly inside has r0 = s0 = 0, r1 = s1 = α.
        long* origin = stackalloc long[Lanes];
        int* range = stackalloc int[4 * Lanes];
        bool* inside = stackalloc bool[Lanes];
        fixed (float* px = x, pv = buffer)
        {
            for (int l0 = 0; l0 < ld; l0 += Lanes)
            {
                for (int l = 0; l < Lanes; l++)
                {
                    int t = t0 + l0 + l, img = t / perImage, rest = t % perImage;
                    int row0 = rest / p.TilesW * p.M - p.PadTop, col0 = rest % p.TilesW * p.M - p.PadLeft;
                    origin[l] = (long)img * p.Cin * plane + (long)row0 * width + col0;
                    range[4 * l] = Math.Max(0, -row0); range[4 * l + 1] = l0 + l < count ? Math.Min(a, p.H - row0) : 0;
                    range[4 * l + 2] = Math.Max(0, -col0); range[4 * l + 3] = Math.Min(a, width - col0);
                    inside[l] = range[4 * l] == 0 && range[4 * l + 1] == a && range[4 * l + 2] == 0 && range[4 * l + 3] == a;
                }
                for (int c = c0; c < c1; c++)
                {
                    float* channel = px + (long)c * plane;
                    for (int l = 0; l < Lanes; l++)
                    {
                        if (!inside[l]) GatherClipped(channel + origin[l], width, a, range + 4 * l, d + l);
                        else if (a == 6) Gather6(channel + origin[l], width, d + l);
                        else Gather4(channel + origin[l], width, d + l);
                    }
                    // Along each row (d B), then along each column (Bᵀ ·): V[(p·α + q)][c][t].
                    float* dst = pv + (long)c * ld + l0;
                    if (a == 6)
                    {
                        for (int r = 0; r < 6; r++) In6(d + r * 6 * Lanes, Lanes, tmp + r * 6 * Lanes, Lanes);
                        for (int q = 0; q < 6; q++) In6(tmp + q * Lanes, 6 * Lanes, dst + q * pointStride, 6 * pointStride);
                    }
                    else
                    {
                        for (int r = 0; r < 4; r++) In4(d + r * 4 * Lanes, Lanes, tmp + r * 4 * Lanes, Lanes);
                        for (int q = 0; q < 4; q++) In4(tmp + q * Lanes, 4 * Lanes, dst + q * pointStride, 4 * pointStride);
                    }
                }
            }
        }
    }

    /// <summary>A 6×6 patch wholly inside the image into d[(r·6 + s)·8] (d already offset by the lane).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Gather6(float* src, int width, float* d)
    {
        for (int r = 0; r < 6; r++, src += width, d += 6 * Lanes)
        {
            d[0] = src[0]; d[Lanes] = src[1]; d[2 * Lanes] = src[2];
            d[3 * Lanes] = src[3]; d[4 * Lanes] = src[4]; d[5 * Lanes] = src[5];
        }
    }

    /// <summary>A 4×4 patch wholly inside the image into d[(r·4 + s)·8].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Gather4(float* src, int width, float* d)
    {
        for (int r = 0; r < 4; r++, src += width, d += 4 * Lanes)
        {
            d[0] = src[0]; d[Lanes] = src[1]; d[2 * Lanes] = src[2]; d[3 * Lanes] = src[3];
        }
    }

    /// <summary>An α×α patch into d[(r·α + s)·8], zero outside rows [r0, r1) and columns [s0, s1) (<paramref name="range"/>).</summary>
    private static unsafe void GatherClipped(float* src, int width, int a, int* range, float* d)
    {
        int r0 = range[0], r1 = range[1], s0 = range[2], s1 = range[3];
        for (int i = 0; i < a * a; i++) d[i * Lanes] = 0f;
        for (int r = r0; r < r1; r++)
        for (int s = s0; s < s1; s++)
            d[(r * a + s) * Lanes] = src[r * width + s];
    }

    /// <summary>M[ξ] (Cout × T) = U[ξ] · V[ξ] for points [ξ0, ξ1), each on the calling thread.</summary>
    private static void GemmStage(in Plan p, Weights u, float[] buffer, int count, int xi0, int xi1)
    {
        int ld = RoundUp(count), vLen = p.Cin * ld, mLen = p.Cout * ld, vStride = p.VStride(ld), mStride = p.MStride(ld), mBase = p.MBase(ld);
        for (int xi = xi0; xi < xi1; xi++)
            u.Multiply(xi, ld, buffer.AsSpan(xi * vStride, vLen), ld, buffer.AsSpan(mBase + xi * mStride, mLen), ld);
    }

    /// <summary>y tile = Aᵀ M A (+ b, ReLU) for output channels [o0, o1) of tiles [t0, t0 + count), clipped to the output plane.</summary>
    private static unsafe void OutputStage(in Plan p, float[] buffer, float[]? bias, float[] y, bool relu, int t0, int count, int o0, int o1)
    {
        if (o0 >= o1) return;
        int a = p.A, m = p.M, ld = RoundUp(count), perImage = p.TilesH * p.TilesW, outPlane = p.OutH * p.OutW;
        float* tmp = stackalloc float[24 * Lanes];
        float* o = stackalloc float[16 * Lanes];
        long pointStride = p.MStride(ld);
        fixed (float* pb = buffer, py = y)
        {
            float* pm = pb + p.MBase(ld);
            long* target = stackalloc long[Lanes];
            int* extent = stackalloc int[2 * Lanes];
            for (int l0 = 0; l0 < ld; l0 += Lanes)
            {
                // Per real lane: the tile's first output (channel 0) and its rows and columns inside the plane.
                int lanes = Math.Min(Lanes, count - l0);
                for (int l = 0; l < lanes; l++)
                {
                    int t = t0 + l0 + l, img = t / perImage, r = t % perImage, row0 = r / p.TilesW * m, col0 = r % p.TilesW * m;
                    target[l] = (long)img * p.Cout * outPlane + (long)row0 * p.OutW + col0;
                    extent[2 * l] = Math.Min(m, p.OutH - row0);
                    extent[2 * l + 1] = Math.Min(m, p.OutW - col0);
                }
                for (int co = o0; co < o1; co++)
                {
                    float* src = pm + (long)co * ld + l0;
                    if (a == 6)
                    {
                        for (int r = 0; r < 6; r++) Out6(src + r * 6 * pointStride, pointStride, tmp + r * 4 * Lanes, Lanes);
                        for (int v = 0; v < 4; v++) Out6(tmp + v * Lanes, 4 * Lanes, o + v * Lanes, 4 * Lanes);
                    }
                    else
                    {
                        for (int r = 0; r < 4; r++) Out4(src + r * 4 * pointStride, pointStride, tmp + r * 2 * Lanes, Lanes);
                        for (int v = 0; v < 2; v++) Out4(tmp + v * Lanes, 2 * Lanes, o + v * Lanes, 2 * Lanes);
                    }
                    var b = Vector256.Create(bias?[co] ?? 0f);
                    for (int k = 0; k < m * m; k++)
                    {
                        var v = Vector256.Load(o + k * Lanes) + b;
                        if (relu) v = Vector256.Max(v, Vector256<float>.Zero);
                        v.Store(o + k * Lanes);
                    }
                    for (int l = 0; l < lanes; l++)
                    {
                        int rows = extent[2 * l], cols = extent[2 * l + 1];
                        float* dst = py + target[l] + (long)co * outPlane, from = o + l;
                        if (rows == 4 && cols == 4)
                            for (int uu = 0; uu < 4; uu++, dst += p.OutW, from += 4 * Lanes)
                            {
                                dst[0] = from[0]; dst[1] = from[Lanes]; dst[2] = from[2 * Lanes]; dst[3] = from[3 * Lanes];
                            }
                        else
                            for (int uu = 0; uu < rows; uu++, dst += p.OutW)
                            for (int vv = 0; vv < cols; vv++)
                                dst[vv] = from[(uu * m + vv) * Lanes];
                    }
                }
            }
        }
    }

    /// <summary>F(4×4, 3×3)'s Bᵀ on 6 vectors of 8 tiles: r = Bᵀ d (strides in floats).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void In6(float* s, long ss, float* t, long ts)
    {
        var d0 = Vector256.Load(s); var d1 = Vector256.Load(s + ss); var d2 = Vector256.Load(s + 2 * ss);
        var d3 = Vector256.Load(s + 3 * ss); var d4 = Vector256.Load(s + 4 * ss); var d5 = Vector256.Load(s + 5 * ss);
        var four = Vector256.Create(4f); var five = Vector256.Create(5f); var two = Vector256.Create(2f);
        var e = d4 - d2;
        Vector256.FusedMultiplyAdd(four, d0, d4 - five * d2).Store(t);                        // 4d0 − 5d2 + d4
        Vector256.FusedMultiplyAdd(-four, d1 + d2, d3 + d4).Store(t + ts);                   // −4(d1 + d2) + d3 + d4
        Vector256.FusedMultiplyAdd(four, d1 - d2, d4 - d3).Store(t + 2 * ts);                // 4(d1 − d2) − d3 + d4
        Vector256.FusedMultiplyAdd(two, d3 - d1, e).Store(t + 3 * ts);                       // 2(d3 − d1) + d4 − d2
        Vector256.FusedMultiplyAdd(two, d1 - d3, e).Store(t + 4 * ts);                       // 2(d1 − d3) + d4 − d2
        Vector256.FusedMultiplyAdd(four, d1, d5 - five * d3).Store(t + 5 * ts);              // 4d1 − 5d3 + d5
    }

    /// <summary>F(2×2, 3×3)'s Bᵀ on 4 vectors of 8 tiles.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void In4(float* s, long ss, float* t, long ts)
    {
        var d0 = Vector256.Load(s); var d1 = Vector256.Load(s + ss); var d2 = Vector256.Load(s + 2 * ss); var d3 = Vector256.Load(s + 3 * ss);
        (d0 - d2).Store(t);
        (d1 + d2).Store(t + ts);
        (d2 - d1).Store(t + 2 * ts);
        (d1 - d3).Store(t + 3 * ts);
    }

    /// <summary>F(4×4, 3×3)'s Aᵀ: 6 vectors in, 4 out.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Out6(float* s, long ss, float* t, long ts)
    {
        var m0 = Vector256.Load(s); var m1 = Vector256.Load(s + ss); var m2 = Vector256.Load(s + 2 * ss);
        var m3 = Vector256.Load(s + 3 * ss); var m4 = Vector256.Load(s + 4 * ss); var m5 = Vector256.Load(s + 5 * ss);
        Vector256<float> sum12 = m1 + m2, dif12 = m1 - m2, sum34 = m3 + m4, dif34 = m3 - m4;
        (m0 + sum12 + sum34).Store(t);                                                          // m0 + m1 + m2 + m3 + m4
        Vector256.FusedMultiplyAdd(Vector256.Create(2f), dif34, dif12).Store(t + ts);           // m1 − m2 + 2(m3 − m4)
        Vector256.FusedMultiplyAdd(Vector256.Create(4f), sum34, sum12).Store(t + 2 * ts);       // m1 + m2 + 4(m3 + m4)
        Vector256.FusedMultiplyAdd(Vector256.Create(8f), dif34, dif12 + m5).Store(t + 3 * ts);  // m1 − m2 + 8(m3 − m4) + m5
    }

    /// <summary>F(2×2, 3×3)'s Aᵀ: 4 vectors in, 2 out.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Out4(float* s, long ss, float* t, long ts)
    {
        var m0 = Vector256.Load(s); var m1 = Vector256.Load(s + ss); var m2 = Vector256.Load(s + 2 * ss); var m3 = Vector256.Load(s + 3 * ss);
        (m0 + m1 + m2).Store(t);
        (m1 - m2 - m3).Store(t + ts);
    }

    /// <summary>
    /// The transformed kernel U[ξ] = (G g Gᵀ)[ξ] (Rows × Cols = Cout × Cin for the forward, Cin × Cout with g rotated by
    /// 180° for the input gradient), each point's matrix packed once as a GEMM operand when <c>pack</c> is set (an inference
    /// plan's weights), else kept as it is (one call's weights: the GEMMs pack their panels themselves). Rented; dispose it.
    /// </summary>
    internal sealed class Weights : IDisposable
    {
        private readonly Gemm.PackedA?[]? _points;
        private float[]? _u;
        private readonly bool _inputGradient;

        /// <summary>Transforms <paramref name="w"/> [outChannels, inChannels, 3, 3] for tile size <paramref name="tile"/> (2 or 4).</summary>
        public unsafe Weights(ReadOnlySpan<float> w, int outChannels, int inChannels, int tile, bool inputGradient, bool pack = false)
        {
            if (tile is not (2 or 4)) throw new ArgumentOutOfRangeException(nameof(tile), tile, "The Winograd tile is 2 or 4.");
            if (w.Length < outChannels * inChannels * 9)
                throw new ArgumentException($"w has {w.Length} values; {outChannels}x{inChannels}x3x3 needs {outChannels * inChannels * 9}.", nameof(w));
            Tile = tile; _inputGradient = inputGradient;
            Rows = inputGradient ? inChannels : outChannels;
            Cols = inputGradient ? outChannels : inChannels;
            int a = tile + 2, points = a * a, size = Rows * Cols;
            var u = _u = ArrayPool<float>.Shared.Rent(Math.Max(1, points * size));
            if (pack) _points = new Gemm.PackedA?[points];
            try
            {
                fixed (float* pw = w, pu = u)
                {
                    // Element-wise: any split over the threads gives the same values.
                    nint iw = (nint)pw, iu = (nint)pu;
                    int chunks = (size + Lanes - 1) / Lanes, parts = Math.Min(Parallelism.MaxThreads, Math.Max(1, chunks / 2048));
                    int per = (chunks + parts - 1) / parts, rows = Rows, cols = Cols;
                    if (parts == 1) Transform((float*)iw, (float*)iu, tile, inputGradient, inChannels, rows, cols, 0, size);
                    else
                        Parallelism.For(parts, (long)per * Lanes * points * 4, i =>
                            Transform((float*)iw, (float*)iu, tile, inputGradient, inChannels, rows, cols, i * per * Lanes, Math.Min(size, (i + 1) * per * Lanes)));
                }
                if (_points is null) return;
                for (int xi = 0; xi < points; xi++)
                    _points[xi] = new Gemm.PackedA(false, Rows, Cols, u.AsSpan(xi * size, size), Math.Max(1, Cols));
                ArrayPool<float>.Shared.Return(u);
                _u = null;
            }
            catch { Dispose(); throw; }
        }

        /// <summary>
        /// Entries [e0, e1) (e = row·cols + col, e0 a multiple of 8) of every U[ξ], 8 at a time: the 8 kernels' taps
        /// transposed into k[tap][lane], then G k Gᵀ on vectors, stored at U[ξ] + e.
        /// </summary>
        private static unsafe void Transform(float* pw, float* pu, int tile, bool inputGradient, int inChannels, int rows, int cols, int e0, int e1)
        {
            int a = tile + 2, points = a * a;
            long size = (long)rows * cols;
            float* k = stackalloc float[9 * Lanes];
            float* gk = stackalloc float[18 * Lanes];
            float* uk = stackalloc float[36 * Lanes];
            for (int c0 = e0; c0 < e1; c0 += Lanes)
            {
                int lanes = Math.Min(Lanes, e1 - c0);
                for (int l = 0; l < Lanes; l++)
                {
                    int e = c0 + Math.Min(l, lanes - 1), row = e / cols, col = e - row * cols;
                    // Forward: U[o][c] from w[o][c]. Input gradient: U[c][o] from w[o][c] rotated, k[t] = w[o][c][8 − t].
                    if (inputGradient)
                    {
                        float* src = pw + ((long)col * inChannels + row) * 9;
                        for (int t = 0; t < 9; t++) k[t * Lanes + l] = src[8 - t];
                    }
                    else
                    {
                        float* src = pw + (long)e * 9;
                        for (int t = 0; t < 9; t++) k[t * Lanes + l] = src[t];
                    }
                }
                // Along the kernel's columns (G k, α × 3), then along its rows (· Gᵀ, α × α).
                for (int j = 0; j < 3; j++) KernelTransform(tile, k + j * Lanes, 3 * Lanes, gk + j * Lanes, 3 * Lanes);
                for (int r = 0; r < a; r++) KernelTransform(tile, gk + r * 3 * Lanes, Lanes, uk + r * a * Lanes, Lanes);
                if (lanes == Lanes)
                    for (int xi = 0; xi < points; xi++) Vector256.Load(uk + xi * Lanes).Store(pu + xi * size + c0);
                else
                    for (int xi = 0; xi < points; xi++)
                    for (int l = 0; l < lanes; l++) pu[xi * size + c0 + l] = uk[xi * Lanes + l];
            }
        }

        /// <summary>G on 3 vectors (strides in floats) into α: F(2): [k0, (k0 + k1 + k2)/2, (k0 − k1 + k2)/2, k2]; F(4): the rows of G4.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static unsafe void KernelTransform(int tile, float* s, long ss, float* t, long ts)
        {
            var k0 = Vector256.Load(s); var k1 = Vector256.Load(s + ss); var k2 = Vector256.Load(s + 2 * ss);
            var even = k0 + k2;
            if (tile == 2)
            {
                k0.Store(t);
                ((even + k1) * 0.5f).Store(t + ts);
                ((even - k1) * 0.5f).Store(t + 2 * ts);
                k2.Store(t + 3 * ts);
                return;
            }
            (k0 * 0.25f).Store(t);                                              // k0/4
            ((even + k1) * (-1f / 6)).Store(t + ts);                            // −(k0 + k1 + k2)/6
            ((even - k1) * (-1f / 6)).Store(t + 2 * ts);                        // −(k0 − k1 + k2)/6
            var e = Vector256.FusedMultiplyAdd(k0, Vector256.Create(1f / 24), k2 * (1f / 6));
            Vector256.FusedMultiplyAdd(k1, Vector256.Create(1f / 12), e).Store(t + 3 * ts);   // k0/24 + k1/12 + k2/6
            Vector256.FusedMultiplyAdd(k1, Vector256.Create(-1f / 12), e).Store(t + 4 * ts);  // k0/24 − k1/12 + k2/6
            k2.Store(t + 5 * ts);
        }

        /// <summary>Output tile size m.</summary>
        public int Tile { get; }
        /// <summary>Rows of each U[ξ]: the channels the convolution writes.</summary>
        public int Rows { get; }
        /// <summary>Columns of each U[ξ]: the channels it reads.</summary>
        public int Cols { get; }

        /// <summary>True when these are the forward weights of a convolution with these channel counts (or its input-gradient weights).</summary>
        public bool Fits(int outChannels, int inChannels, bool inputGradient) =>
            _inputGradient == inputGradient && Rows == (inputGradient ? inChannels : outChannels) && Cols == (inputGradient ? outChannels : inChannels);

        /// <summary>M (Rows × n, leading dimension ldm) = U[ξ] · V (Cols × n, leading dimension ldv), on the calling thread.</summary>
        public void Multiply(int point, int n, ReadOnlySpan<float> v, int ldv, Span<float> m, int ldm)
        {
            if (_points is not null)
                Gemm.Multiply(_points[point]!, false, n, 1f, v, ldv, 0f, m, ldm, parallel: false);
            else
                Gemm.Multiply(false, false, Rows, n, Cols, 1f, _u.AsSpan(point * Rows * Cols, Rows * Cols), Math.Max(1, Cols), v, ldv, 0f, m, ldm, parallel: false);
        }

        /// <summary>Returns the buffers to the pool.</summary>
        public void Dispose()
        {
            if (_points is not null) foreach (var p in _points) p?.Dispose();
            if (Interlocked.Exchange(ref _u, null) is { } u) ArrayPool<float>.Shared.Return(u);
        }
    }
}
