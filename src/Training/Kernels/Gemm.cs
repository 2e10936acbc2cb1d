using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MLConv.Training.Kernels;

/// <summary>
/// Single-precision general matrix multiply, row-major:
/// C = alpha · op(A) · op(B) + beta · C, with op(X) = X or Xᵀ; op(A) is M×K, op(B) is K×N.
/// This is the one hot path of training. Goto-style: C is cut into tasks (column panels × row ranges, see
/// <see cref="Panels"/>) spread over threads; per task and K block (KC deep) the B panel is packed once into contiguous
/// strips and serves every MB-row block of A, packed in turn (packing absorbs the transposes and any leading dimension,
/// even power-of-two strides), and a 6×16 FMA register-blocked micro-kernel (6×32 with AVX-512) runs over them. When M and N are small but K is long (weight gradients:
/// K = batch·pixels) K is split into fixed chunks whose partial products are summed in chunk order (not for a pre-packed
/// A, whose products always run unsplit).
/// Every C element is reduced in an order that depends only on (M, N, K), never on the thread count,
/// so results are deterministic.
/// </summary>
public static class Gemm
{
    private const int MR = 6;       // rows of the micro-kernel
    /// <summary>Columns of the micro-kernel: 2 × Vector512 (32) where AVX-512 is available, else 2 × Vector256 (16).</summary>
    private static readonly int NR = Vector512.IsHardwareAccelerated ? 32 : 16;
    private const int KC = 256;     // depth of a packed K block
    private const int MB = 72;      // rows of an A block (multiple of MR)
    private const int NB = 256;     // target columns of a B panel
    private const int KSplit = 1024; // K chunk when K is split
    /// <summary>Floats past the end of a packed A that the vectorised packing may write (an 8-wide store per k of a 6-row strip).</summary>
    private const int PackSlack = 16;

    /// <summary>C = <paramref name="alpha"/>·op(A)·op(B) + <paramref name="beta"/>·C over row-major matrices with leading dimensions lda, ldb, ldc; multi-threaded, deterministic for any thread count.</summary>
    /// <exception cref="ArgumentOutOfRangeException">m, n or k is negative.</exception>
    /// <exception cref="ArgumentException">An operand's span or leading dimension is too small for its shape.</exception>
    public static void Multiply(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc) =>
        Multiply(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, parallel: true);

    /// <summary>As the public overload; <paramref name="parallel"/> = false keeps the work on the calling thread
    /// (for callers that already spread independent GEMMs over threads). The result is the same either way.</summary>
    internal static void Multiply(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc, bool parallel)
    {
        if (m < 0) throw new ArgumentOutOfRangeException(nameof(m), m, "M must be >= 0.");
        if (n < 0) throw new ArgumentOutOfRangeException(nameof(n), n, "N must be >= 0.");
        if (k < 0) throw new ArgumentOutOfRangeException(nameof(k), k, "K must be >= 0.");
        CheckOperand(nameof(a), a.Length, transA ? k : m, transA ? m : k, lda);
        CheckOperand(nameof(b), b.Length, transB ? n : k, transB ? k : n, ldb);
        CheckOperand(nameof(c), c.Length, m, n, ldc);
        if (m == 0 || n == 0) return;

        ScaleC(m, n, beta, c, ldc);
        if (k == 0 || alpha == 0f) return;
        Compute(transA, transB, m, n, k, alpha, a, lda, b, ldb, c, ldc, parallel);
    }

    private static void CheckOperand(string name, int length, int rows, int cols, int ld)
    {
        if (ld < Math.Max(1, cols))
            throw new ArgumentException($"Leading dimension of {name} is {ld}; it must be >= {cols}.", name);
        long need = rows == 0 ? 0 : (long)(rows - 1) * ld + cols;
        if (length < need)
            throw new ArgumentException($"Matrix {name} has {length} elements; {rows}×{cols} with leading dimension {ld} needs {need}.", name);
    }

    private static void ScaleC(int m, int n, float beta, Span<float> c, int ldc)
    {
        if (beta == 1f) return;
        for (int i = 0; i < m; i++)
        {
            var row = c.Slice(i * ldc, n);
            if (beta == 0f) row.Clear();
            else System.Numerics.Tensors.TensorPrimitives.Multiply(row, beta, row);
        }
    }

    /// <summary>Operand pointers; <c>Packed</c> ≠ 0 points at a <see cref="PackedA"/> (then A/Lda/TransA are unused).</summary>
    private readonly record struct Operands(nint A, int Lda, bool TransA, nint B, int Ldb, bool TransB, int M, int N, float Alpha,
        nint Packed = 0, int MPad = 0, int K = 0);

    /// <summary>
    /// op(A) (M×K) packed once in the layout the tiles read — per K block of KC, strips of MR rows — for products
    /// that reuse one A against many B (a convolution's weights over the samples of a batch). Rented; dispose it.
    /// </summary>
    internal sealed class PackedA : IDisposable
    {
        internal float[] Data { get; }
        internal int M { get; }
        internal int K { get; }
        internal int MPad { get; }

        internal unsafe PackedA(bool transA, int m, int k, ReadOnlySpan<float> a, int lda)
        {
            CheckOperand(nameof(a), a.Length, transA ? k : m, transA ? m : k, lda);
            M = m; K = k; MPad = (m + MR - 1) / MR * MR;
            Data = ArrayPool<float>.Shared.Rent(MPad * k + PackSlack);
            fixed (float* pa = a, pd = Data)
            {
                var o = new Operands((nint)pa, lda, transA, 0, 0, false, m, 0, 1f);
                for (int k0 = 0; k0 < k; k0 += KC)
                    PackA(o, pd + (long)k0 * MPad, 0, m, k0, Math.Min(KC, k - k0));
            }
        }

        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0) ArrayPool<float>.Shared.Return(Data);
        }
    }

    /// <summary>C = alpha · A · op(B) + beta · C with A packed by <see cref="PackedA"/> (M×K); no K split.</summary>
    internal static unsafe void Multiply(PackedA a, bool transB, int n, float alpha, ReadOnlySpan<float> b, int ldb,
        float beta, Span<float> c, int ldc, bool parallel)
    {
        int m = a.M, k = a.K;
        if (n < 0) throw new ArgumentOutOfRangeException(nameof(n), n, "N must be >= 0.");
        CheckOperand(nameof(b), b.Length, transB ? n : k, transB ? k : n, ldb);
        CheckOperand(nameof(c), c.Length, m, n, ldc);
        if (m == 0 || n == 0) return;
        ScaleC(m, n, beta, c, ldc);
        if (k == 0 || alpha == 0f) return;
        fixed (float* pp = a.Data, pb = b, pc = c)
        {
            var ops = new Operands(0, 0, false, (nint)pb, ldb, transB, m, n, alpha, (nint)pp, a.MPad, k);
            var plan = new Panels(m, n, parallel);
            Run(ops, pc, ldc, plan, 1, k, 0, parallel);
        }
    }

    /// <summary>
    /// How C is cut into tasks: column panels of whole NR strips (about NB wide, their count rounded up to a multiple of
    /// the threads so they share evenly) times row ranges of whole MR strips (more than one only when the panels alone
    /// cannot feed the threads). A task packs each K block of its B panel once and runs it against all its rows. The cut
    /// changes only who computes an element, never the order of its sum, so any cut gives the same result.
    /// </summary>
    private readonly struct Panels
    {
        public readonly int PanelCols, PanelsN, RangeRows, RangesM;

        public Panels(int m, int n, bool parallel)
        {
            int threads = parallel ? Parallelism.MaxThreads : 1;
            int stripsN = (n + NR - 1) / NR, stripsM = (m + MR - 1) / MR;
            int panels = (stripsN * NR + NB - 1) / NB;
            if (threads > 1 && panels >= threads) panels = Math.Min(stripsN, (panels + threads - 1) / threads * threads);
            int perPanel = (stripsN + panels - 1) / panels;
            PanelCols = perPanel * NR;
            PanelsN = (n + PanelCols - 1) / PanelCols;
            int ranges = threads > 1 && PanelsN < threads ? Math.Min(stripsM, (threads + PanelsN - 1) / PanelsN) : 1;
            RangeRows = (stripsM + ranges - 1) / ranges * MR;
            RangesM = (m + RangeRows - 1) / RangeRows;
        }

        public int Tasks => PanelsN * RangesM;
    }

    /// <summary>
    /// Every task of <paramref name="plan"/> for each of <paramref name="chunks"/> K chunks of <paramref name="chunkLen"/>
    /// (chunk q writes C + q·<paramref name="chunkStride"/>): on the calling thread when the work is small or one thread is
    /// allowed (no delegate, no closure: nothing allocated), else spread over the threads.
    /// </summary>
    private static unsafe void Run(in Operands ops, float* c, int ldc, in Panels plan, int chunks, int chunkLen, long chunkStride, bool parallel)
    {
        int tasks = plan.Tasks * chunks;
        long work = (long)Math.Min(ops.M, plan.RangeRows) * Math.Min(ops.N, plan.PanelCols) * chunkLen;
        if (tasks == 1 || !parallel || Parallelism.MaxThreads == 1 || work * tasks < 1 << 16)
        {
            for (int t = 0; t < tasks; t++) Task(ops, c, ldc, plan, chunkLen, chunkStride, t);
            return;
        }
        RunParallel(ops, c, ldc, plan, chunkLen, chunkStride, tasks, work);
    }

    private static unsafe void RunParallel(in Operands ops, float* c, int ldc, in Panels plan, int chunkLen, long chunkStride, int tasks, long work) =>
        Parallelism.For(tasks, work, (Ops: ops, C: (nint)c, Ldc: ldc, Plan: plan, ChunkLen: chunkLen, ChunkStride: chunkStride),
            static (in (Operands Ops, nint C, int Ldc, Panels Plan, int ChunkLen, long ChunkStride) j, int t) =>
                Task(j.Ops, (float*)j.C, j.Ldc, j.Plan, j.ChunkLen, j.ChunkStride, t));

    /// <summary>Task t: K chunk t / (panels·ranges), then its row range and column panel.</summary>
    private static unsafe void Task(in Operands ops, float* c, int ldc, in Panels plan, int chunkLen, long chunkStride, int t)
    {
        int chunk = t / plan.Tasks, rest = t % plan.Tasks;
        int i0 = rest / plan.PanelsN * plan.RangeRows, j0 = rest % plan.PanelsN * plan.PanelCols;
        int k0 = chunk * chunkLen, k1 = Math.Min(ops.K, k0 + chunkLen);
        if (k0 < k1)
            Tile(ops, c + chunk * chunkStride, ldc, i0, Math.Min(i0 + plan.RangeRows, ops.M), j0, Math.Min(j0 + plan.PanelCols, ops.N), k0, k1);
    }

    private static unsafe void Compute(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, Span<float> c, int ldc, bool parallel)
    {
        int tiles = (m + MB - 1) / MB * ((n + NB - 1) / NB);
        // Split K only when the tiles alone cannot feed the cores and K is long; the split depends on the sizes only.
        int chunks = tiles < 8 && k >= 2 * KSplit ? Math.Min((k + KSplit - 1) / KSplit, 16) : 1;
        fixed (float* pa = a, pb = b, pc = c)
        {
            var ops = new Operands((nint)pa, lda, transA, (nint)pb, ldb, transB, m, n, alpha, K: k);
            if (chunks == 1)
            {
                var plan = new Panels(m, n, parallel);
                Run(ops, pc, ldc, plan, 1, k, 0, parallel);
                return;
            }
            SplitK(ops, pc, ldc, m, n, k, chunks, parallel);
        }
    }

    /// <summary>Partial products per K chunk, then summed in chunk order (deterministic).</summary>
    private static unsafe void SplitK(in Operands ops, float* pc, int ldc, int m, int n, int k, int chunks, bool parallel)
    {
        int chunkLen = (k + chunks - 1) / chunks;
        var partial = ArrayPool<float>.Shared.Rent(chunks * m * n);
        try
        {
            fixed (float* pp = partial)
            {
                new Span<float>(pp, chunks * m * n).Clear();
                // Each chunk alone is a product of its own: the panels need not feed the threads by themselves.
                var plan = new Panels(m, n, parallel: false);
                Run(ops, pp, n, plan, chunks, chunkLen, (long)m * n, parallel);
                for (int i = 0; i < m; i++)
                {
                    var row = new Span<float>(pc + (long)i * ldc, n);
                    for (int ch = 0; ch < chunks; ch++)
                        System.Numerics.Tensors.TensorPrimitives.Add(row, new ReadOnlySpan<float>(pp + ((long)ch * m + i) * n, n), row);
                }
            }
        }
        finally { ArrayPool<float>.Shared.Return(partial); }
    }

    /// <summary>
    /// C[i0:i1, j0:j1] += alpha · op(A)[i0:i1, k0:k1] · op(B)[k0:k1, j0:j1], K-blocked: each K block of the B panel is
    /// packed once and serves every MB-row block of A (packed in turn, unless pre-packed).
    /// </summary>
    private static unsafe void Tile(in Operands o, float* c, int ldc, int i0, int i1, int j0, int j1, int kBegin, int kEnd)
    {
        int cols = j1 - j0, stripsB = (cols + NR - 1) / NR;
        int kcMax = Math.Min(KC, kEnd - kBegin);
        var bufA = ArrayPool<float>.Shared.Rent(o.Packed != 0 ? 1 : MB * kcMax + PackSlack);
        var bufB = ArrayPool<float>.Shared.Rent(stripsB * NR * kcMax + 16);
        float* acc = stackalloc float[MR * 32];
        try
        {
            fixed (float* pa = bufA, pbRaw = bufB)
            {
                // B strips start on a 64-byte boundary: every vector load of the micro-kernel then reads one cache line
                // (an array is only 8-byte aligned, and a 64-byte load across two lines costs two).
                float* pb = (float*)(((nint)pbRaw + 63) & ~(nint)63);
                for (int k0 = kBegin; k0 < kEnd; k0 += KC)
                {
                    int kc = Math.Min(KC, kEnd - k0);
                    PackB(o, pb, j0, cols, k0, kc);
                    for (int ib = i0; ib < i1; ib += MB)
                    {
                        int rows = Math.Min(MB, i1 - ib), stripsA = (rows + MR - 1) / MR;
                        // A pre-packed over the whole matrix: this block's strips of K block k0 (ib is a multiple of MR).
                        float* aBlock = o.Packed != 0 ? (float*)o.Packed + (long)k0 * o.MPad + (long)ib * kc : pa;
                        if (o.Packed == 0) PackA(o, pa, ib, rows, k0, kc);
                        for (int sa = 0; sa < stripsA; sa++)
                        {
                            int r = Math.Min(MR, rows - sa * MR);
                            float* ap = aBlock + (long)sa * MR * kc;
                            for (int sb = 0; sb < stripsB; sb++)
                            {
                                int w = Math.Min(NR, cols - sb * NR);
                                float* bp = pb + (long)sb * NR * kc;
                                float* cp = c + (long)(ib + sa * MR) * ldc + j0 + sb * NR;
                                if (r == MR && w == NR) MicroKernel(ap, bp, kc, cp, ldc, o.Alpha);
                                else
                                {
                                    // Edge block: the packed panels are zero-padded, so the full kernel runs into a
                                    // scratch block and only the valid r × w corner is added to C.
                                    // A strip at most half a kernel wide runs the one-vector kernel (half the work).
                                    new Span<float>(acc, MR * NR).Clear();
                                    if (w <= NR / 2) MicroKernelHalf(ap, bp, kc, acc, NR, 1f);
                                    else MicroKernel(ap, bp, kc, acc, NR, 1f);
                                    for (int ii = 0; ii < r; ii++)
                                    for (int jj = 0; jj < w; jj++)
                                        cp[(long)ii * ldc + jj] += o.Alpha * acc[ii * NR + jj];
                                }
                            }
                        }
                    }
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(bufA);
            ArrayPool<float>.Shared.Return(bufB);
        }
    }

    /// <summary>
    /// Packs op(A)[i0:i0+rows, k0:k0+kc] as strips of MR rows: dst[(s·kc + p)·MR + r] (zero-padded rows). May write up to
    /// 2 floats past the last strip (<see cref="PackSlack"/>); strips are written in order, so within the buffer those are
    /// overwritten by the next strip.
    /// </summary>
    private static unsafe void PackA(in Operands o, float* dst, int i0, int rows, int k0, int kc)
    {
        float* a = (float*)o.A;
        int strips = (rows + MR - 1) / MR;
        float** src = stackalloc float*[MR];
        for (int s = 0; s < strips; s++)
        {
            float* d = dst + (long)s * MR * kc;
            int r0 = i0 + s * MR, r = Math.Min(MR, rows - s * MR);
            if (!o.TransA)
            {
                // Rows of A are contiguous in k: 8 k at a time, the six rows (and two zero rows) go through an 8×8
                // transpose and each k's column is stored 8 wide (the last two lanes are overwritten by the next k).
                for (int rr = 0; rr < MR; rr++) src[rr] = a + (long)(r0 + Math.Min(rr, r - 1)) * o.Lda + k0;
                int p = 0;
                if (Avx.IsSupported)
                {
                    for (; p + 8 <= kc; p += 8)
                    {
                        var z = Vector256<float>.Zero;
                        var v0 = Vector256.Load(src[0] + p);
                        var v1 = r > 1 ? Vector256.Load(src[1] + p) : z;
                        var v2 = r > 2 ? Vector256.Load(src[2] + p) : z;
                        var v3 = r > 3 ? Vector256.Load(src[3] + p) : z;
                        var v4 = r > 4 ? Vector256.Load(src[4] + p) : z;
                        var v5 = r > 5 ? Vector256.Load(src[5] + p) : z;
                        var v6 = z;
                        var v7 = z;
                        Transpose8(ref v0, ref v1, ref v2, ref v3, ref v4, ref v5, ref v6, ref v7);
                        float* dp = d + p * MR;
                        v0.Store(dp); v1.Store(dp + MR); v2.Store(dp + 2 * MR); v3.Store(dp + 3 * MR);
                        v4.Store(dp + 4 * MR); v5.Store(dp + 5 * MR); v6.Store(dp + 6 * MR); v7.Store(dp + 7 * MR);
                    }
                }
                for (; p < kc; p++)
                    for (int rr = 0; rr < MR; rr++) d[p * MR + rr] = rr < r ? src[rr][p] : 0f;
            }
            else if (r == MR && r0 + 8 <= o.M)
            {
                // op(A) = Aᵀ: the strip's six values of each k are contiguous; an 8-wide copy (inside the row, since
                // r0 + 8 ≤ M) whose last two lanes the next k overwrites.
                float* sp = a + (long)k0 * o.Lda + r0;
                for (int p = 0; p < kc; p++, sp += o.Lda) Vector256.Store(Vector256.Load(sp), d + p * MR);
            }
            else
            {
                for (int p = 0; p < kc; p++)
                {
                    float* sp = a + (long)(k0 + p) * o.Lda + r0;
                    int rr = 0;
                    for (; rr < r; rr++) d[p * MR + rr] = sp[rr];
                    for (; rr < MR; rr++) d[p * MR + rr] = 0f;
                }
            }
        }
    }

    /// <summary>Packs op(B)[k0:k0+kc, j0:j0+cols] as strips of NR columns: dst[(s·kc + p)·NR + c] (zero-padded columns).</summary>
    private static unsafe void PackB(in Operands o, float* dst, int j0, int cols, int k0, int kc)
    {
        float* b = (float*)o.B;
        int strips = (cols + NR - 1) / NR;
        float** rowsB = stackalloc float*[32];
        if (!o.TransB)
        {
            // Row by row across the whole panel: each row of B is read as one contiguous run (the prefetchers follow it),
            // its NR-wide pieces going to their strips.
            int full = cols / NR;
            for (int p = 0; p < kc; p++)
            {
                float* src = b + (long)(k0 + p) * o.Ldb + j0;
                float* d = dst + p * NR;
                long step = (long)NR * kc;
                int s = 0;
                if (NR == 32 && Vector512.IsHardwareAccelerated)
                    for (; s < full; s++, src += 32, d += step)
                    {
                        Vector512.Store(Vector512.Load(src), d);
                        Vector512.Store(Vector512.Load(src + 16), d + 16);
                    }
                else
                    for (; s < full; s++, src += NR, d += step)
                        for (int q = 0; q < NR; q += 8) Vector256.Store(Vector256.Load(src + q), d + q);
                if (s < strips)
                {
                    int w = cols - s * NR, cc = 0;
                    for (; cc < w; cc++) d[cc] = src[cc];
                    for (; cc < NR; cc++) d[cc] = 0f;
                }
            }
            return;
        }
        for (int s = 0; s < strips; s++)
        {
            float* d = dst + (long)s * NR * kc;
            int c0 = j0 + s * NR, w = Math.Min(NR, cols - s * NR);
            // op(B) = Bᵀ: column c of the strip is row c of B, contiguous in k. Groups of 8 rows × 8 k go through an
            // 8×8 transpose; the rest (a partial group of rows, the last k) one value at a time.
            for (int cc = 0; cc < w; cc++) rowsB[cc] = b + (long)(c0 + cc) * o.Ldb + k0;
            int full = Avx.IsSupported ? w / 8 * 8 : 0, p8 = Avx.IsSupported ? kc / 8 * 8 : 0;
            for (int g = 0; g < full; g += 8)
            {
                float** rg = rowsB + g;
                for (int p = 0; p < p8; p += 8)
                {
                    var v0 = Vector256.Load(rg[0] + p); var v1 = Vector256.Load(rg[1] + p);
                    var v2 = Vector256.Load(rg[2] + p); var v3 = Vector256.Load(rg[3] + p);
                    var v4 = Vector256.Load(rg[4] + p); var v5 = Vector256.Load(rg[5] + p);
                    var v6 = Vector256.Load(rg[6] + p); var v7 = Vector256.Load(rg[7] + p);
                    Transpose8(ref v0, ref v1, ref v2, ref v3, ref v4, ref v5, ref v6, ref v7);
                    float* dp = d + p * NR + g;
                    v0.Store(dp); v1.Store(dp + NR); v2.Store(dp + 2 * NR); v3.Store(dp + 3 * NR);
                    v4.Store(dp + 4 * NR); v5.Store(dp + 5 * NR); v6.Store(dp + 6 * NR); v7.Store(dp + 7 * NR);
                }
                for (int p = p8; p < kc; p++)
                    for (int cc = g; cc < g + 8; cc++) d[p * NR + cc] = rowsB[cc][p];
            }
            for (int p = 0; p < kc; p++)
            {
                float* dp = d + p * NR;
                int cc = full;
                for (; cc < w; cc++) dp[cc] = rowsB[cc][p];
                for (; cc < NR; cc++) dp[cc] = 0f;
            }
        }
    }

    /// <summary>Transposes the 8×8 block whose rows are r0…r7 (AVX: unpack, shuffle, swap 128-bit halves).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose8(ref Vector256<float> r0, ref Vector256<float> r1, ref Vector256<float> r2, ref Vector256<float> r3,
        ref Vector256<float> r4, ref Vector256<float> r5, ref Vector256<float> r6, ref Vector256<float> r7)
    {
        var t0 = Avx.UnpackLow(r0, r1); var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3); var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5); var t5 = Avx.UnpackHigh(r4, r5);
        var t6 = Avx.UnpackLow(r6, r7); var t7 = Avx.UnpackHigh(r6, r7);
        var u0 = Avx.Shuffle(t0, t2, 0x44); var u1 = Avx.Shuffle(t0, t2, 0xEE);
        var u2 = Avx.Shuffle(t1, t3, 0x44); var u3 = Avx.Shuffle(t1, t3, 0xEE);
        var u4 = Avx.Shuffle(t4, t6, 0x44); var u5 = Avx.Shuffle(t4, t6, 0xEE);
        var u6 = Avx.Shuffle(t5, t7, 0x44); var u7 = Avx.Shuffle(t5, t7, 0xEE);
        r0 = Avx.Permute2x128(u0, u4, 0x20); r1 = Avx.Permute2x128(u1, u5, 0x20);
        r2 = Avx.Permute2x128(u2, u6, 0x20); r3 = Avx.Permute2x128(u3, u7, 0x20);
        r4 = Avx.Permute2x128(u0, u4, 0x31); r5 = Avx.Permute2x128(u1, u5, 0x31);
        r6 = Avx.Permute2x128(u2, u6, 0x31); r7 = Avx.Permute2x128(u3, u7, 0x31);
    }

    /// <summary>The MR × NR micro-kernel at this machine's width: 6×32 with AVX-512, else 6×16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void MicroKernel(float* a, float* b, int kc, float* c, int ldc, float alpha)
    {
        if (Vector512.IsHardwareAccelerated) MicroKernel<Vector512<float>, Simd512>(a, b, kc, c, ldc, alpha);
        else MicroKernel<Vector256<float>, Simd256>(a, b, kc, c, ldc, alpha);
    }

    /// <summary>
    /// C[0:MR, 0:NR] += alpha · Σ_p a[p, 0:MR] ⊗ b[p, 0:NR] over packed strips, NR = 2 vectors: the 6 × 2 accumulators stay
    /// in registers, each step loads two vectors of B and broadcasts the six values of A. Specialised by the JIT per width.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    private static unsafe void MicroKernel<TV, TSimd>(float* a, float* b, int kc, float* c, int ldc, float alpha)
        where TV : struct where TSimd : struct, ISimd<TV>
    {
        int w = TSimd.Count;
        TV c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        TV c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int p = 0; p < kc; p++, a += MR, b += 2 * w)
        {
            var b0 = TSimd.Load(b);
            var b1 = TSimd.Load(b + w);
            var x = TSimd.Broadcast(a[0]);
            c00 = TSimd.Fma(x, b0, c00); c01 = TSimd.Fma(x, b1, c01);
            x = TSimd.Broadcast(a[1]);
            c10 = TSimd.Fma(x, b0, c10); c11 = TSimd.Fma(x, b1, c11);
            x = TSimd.Broadcast(a[2]);
            c20 = TSimd.Fma(x, b0, c20); c21 = TSimd.Fma(x, b1, c21);
            x = TSimd.Broadcast(a[3]);
            c30 = TSimd.Fma(x, b0, c30); c31 = TSimd.Fma(x, b1, c31);
            x = TSimd.Broadcast(a[4]);
            c40 = TSimd.Fma(x, b0, c40); c41 = TSimd.Fma(x, b1, c41);
            x = TSimd.Broadcast(a[5]);
            c50 = TSimd.Fma(x, b0, c50); c51 = TSimd.Fma(x, b1, c51);
        }
        var al = TSimd.Broadcast(alpha);
        StoreRow<TV, TSimd>(c, c00, c01, al); StoreRow<TV, TSimd>(c + ldc, c10, c11, al); StoreRow<TV, TSimd>(c + 2 * ldc, c20, c21, al);
        StoreRow<TV, TSimd>(c + 3 * ldc, c30, c31, al); StoreRow<TV, TSimd>(c + 4 * ldc, c40, c41, al); StoreRow<TV, TSimd>(c + 5 * ldc, c50, c51, al);
    }

    /// <summary>The MR × NR/2 kernel for narrow edge strips: the first vector of each packed B row only.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void MicroKernelHalf(float* a, float* b, int kc, float* c, int ldc, float alpha)
    {
        if (Vector512.IsHardwareAccelerated) MicroKernelHalf<Vector512<float>, Simd512>(a, b, kc, c, ldc, alpha);
        else MicroKernelHalf<Vector256<float>, Simd256>(a, b, kc, c, ldc, alpha);
    }

    /// <summary>C[0:MR, 0:w] += alpha · Σ_p a[p, 0:MR] ⊗ b[p, 0:w] with w one vector; B rows are 2w apart (the packed strip).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void MicroKernelHalf<TV, TSimd>(float* a, float* b, int kc, float* c, int ldc, float alpha)
        where TV : struct where TSimd : struct, ISimd<TV>
    {
        int w = TSimd.Count;
        TV c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default;
        for (int p = 0; p < kc; p++, a += MR, b += 2 * w)
        {
            var b0 = TSimd.Load(b);
            c0 = TSimd.Fma(TSimd.Broadcast(a[0]), b0, c0);
            c1 = TSimd.Fma(TSimd.Broadcast(a[1]), b0, c1);
            c2 = TSimd.Fma(TSimd.Broadcast(a[2]), b0, c2);
            c3 = TSimd.Fma(TSimd.Broadcast(a[3]), b0, c3);
            c4 = TSimd.Fma(TSimd.Broadcast(a[4]), b0, c4);
            c5 = TSimd.Fma(TSimd.Broadcast(a[5]), b0, c5);
        }
        var al = TSimd.Broadcast(alpha);
        TSimd.Store(TSimd.Fma(al, c0, TSimd.Load(c)), c);
        TSimd.Store(TSimd.Fma(al, c1, TSimd.Load(c + ldc)), c + ldc);
        TSimd.Store(TSimd.Fma(al, c2, TSimd.Load(c + 2 * ldc)), c + 2 * ldc);
        TSimd.Store(TSimd.Fma(al, c3, TSimd.Load(c + 3 * ldc)), c + 3 * ldc);
        TSimd.Store(TSimd.Fma(al, c4, TSimd.Load(c + 4 * ldc)), c + 4 * ldc);
        TSimd.Store(TSimd.Fma(al, c5, TSimd.Load(c + 5 * ldc)), c + 5 * ldc);
    }

    /// <summary>c[0:2w] += alpha · (v0, v1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void StoreRow<TV, TSimd>(float* c, TV v0, TV v1, TV alpha) where TV : struct where TSimd : struct, ISimd<TV>
    {
        TSimd.Store(TSimd.Fma(alpha, v0, TSimd.Load(c)), c);
        TSimd.Store(TSimd.Fma(alpha, v1, TSimd.Load(c + TSimd.Count)), c + TSimd.Count);
    }

    /// <summary>The few vector operations the micro-kernel needs, over one register width of floats.</summary>
    private unsafe interface ISimd<TV> where TV : struct
    {
        static abstract int Count { get; }
        static abstract TV Load(float* p);
        static abstract void Store(TV v, float* p);
        static abstract TV Broadcast(float x);
        /// <summary>a · b + c, rounded once.</summary>
        static abstract TV Fma(TV a, TV b, TV c);
    }

    private readonly unsafe struct Simd256 : ISimd<Vector256<float>>
    {
        public static int Count => Vector256<float>.Count;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Load(float* p) => Vector256.Load(p);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector256<float> v, float* p) => v.Store(p);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Broadcast(float x) => Vector256.Create(x);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Fma(Vector256<float> a, Vector256<float> b, Vector256<float> c) => Vector256.FusedMultiplyAdd(a, b, c);
    }

    private readonly unsafe struct Simd512 : ISimd<Vector512<float>>
    {
        public static int Count => Vector512<float>.Count;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Load(float* p) => Vector512.Load(p);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector512<float> v, float* p) => v.Store(p);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Broadcast(float x) => Vector512.Create(x);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Fma(Vector512<float> a, Vector512<float> b, Vector512<float> c) => Vector512.FusedMultiplyAdd(a, b, c);
    }
}
