using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace MLConv.Training.Kernels;

/// <summary>
/// Single-precision general matrix multiply, row-major:
/// C = alpha · op(A) · op(B) + beta · C, with op(X) = X or Xᵀ; op(A) is M×K, op(B) is K×N.
/// This is the one hot path of training. Transposed operands are first packed to row-major;
/// the product is computed in cache-sized tiles by a 4×16 SIMD register-blocked micro-kernel,
/// tiles spread over threads. Each C element is reduced over K in the same order whatever the
/// thread count, so results are deterministic.
/// </summary>
public static class Gemm
{
    private const int MR = 4;       // rows of the micro-kernel
    private const int NR = 16;      // columns of the micro-kernel (2 × Vector256<float>)
    private const int KC = 256;     // depth of a K block (B panel KC×NB stays in L2)
    private const int MB = 64;      // rows of a parallel tile
    private const int NB = 256;     // columns of a parallel tile

    public static void Multiply(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        if (m < 0 || n < 0 || k < 0) throw new ArgumentException($"Gemm sizes must be >= 0; got M={m}, N={n}, K={k}.");
        CheckOperand(nameof(a), a.Length, transA ? k : m, transA ? m : k, lda);
        CheckOperand(nameof(b), b.Length, transB ? n : k, transB ? k : n, ldb);
        CheckOperand(nameof(c), c.Length, m, n, ldc);
        if (m == 0 || n == 0) return;

        ScaleC(m, n, beta, c, ldc);
        if (k == 0 || alpha == 0f) return;

        float[]? packA = null, packB = null;
        try
        {
            if (transA)
            {
                packA = ArrayPool<float>.Shared.Rent(m * k);
                Transpose(a, lda, k, m, packA);
                a = packA.AsSpan(0, m * k);
                lda = k;
            }
            if (transB)
            {
                packB = ArrayPool<float>.Shared.Rent(k * n);
                Transpose(b, ldb, n, k, packB);
                b = packB.AsSpan(0, k * n);
                ldb = n;
            }
            MultiplyNN(m, n, k, alpha, a, lda, b, ldb, c, ldc);
        }
        finally
        {
            if (packA is not null) ArrayPool<float>.Shared.Return(packA);
            if (packB is not null) ArrayPool<float>.Shared.Return(packB);
        }
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

    /// <summary>dst (cols×rows) = srcᵀ where src is rows×cols with leading dimension ld.</summary>
    internal static void Transpose(ReadOnlySpan<float> src, int ld, int rows, int cols, Span<float> dst)
    {
        const int T = 32;
        for (int i0 = 0; i0 < rows; i0 += T)
        {
            int i1 = Math.Min(i0 + T, rows);
            for (int j0 = 0; j0 < cols; j0 += T)
            {
                int j1 = Math.Min(j0 + T, cols);
                for (int i = i0; i < i1; i++)
                {
                    int s = i * ld;
                    for (int j = j0; j < j1; j++) dst[j * rows + i] = src[s + j];
                }
            }
        }
    }

    private static unsafe void MultiplyNN(int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, Span<float> c, int ldc)
    {
        int tilesM = (m + MB - 1) / MB, tilesN = (n + NB - 1) / NB;
        fixed (float* pa = a, pb = b, pc = c)
        {
            nint ia = (nint)pa, ib = (nint)pb, ic = (nint)pc;
            long work = (long)Math.Min(m, MB) * Math.Min(n, NB) * k;
            Parallelism.For(tilesM * tilesN, work, t =>
            {
                int i0 = t / tilesN * MB, j0 = t % tilesN * NB;
                Tile((float*)ia, lda, (float*)ib, ldb, (float*)ic, ldc, alpha,
                    i0, Math.Min(i0 + MB, m), j0, Math.Min(j0 + NB, n), k);
            });
        }
    }

    private static unsafe void Tile(float* a, int lda, float* b, int ldb, float* c, int ldc, float alpha,
        int i0, int i1, int j0, int j1, int k)
    {
        for (int k0 = 0; k0 < k; k0 += KC)
        {
            int kc = Math.Min(KC, k - k0);
            int i = i0;
            for (; i + MR <= i1; i += MR)
            {
                int j = j0;
                for (; j + NR <= j1; j += NR)
                    Kernel4x16(a + (long)i * lda + k0, lda, b + (long)k0 * ldb + j, ldb, c + (long)i * ldc + j, ldc, kc, alpha);
                for (int r = 0; r < MR; r++)
                    Edge(a + (long)(i + r) * lda + k0, b + (long)k0 * ldb, ldb, c + (long)(i + r) * ldc, j, j1, kc, alpha);
            }
            for (; i < i1; i++)
            {
                int j = j0;
                for (; j + NR <= j1; j += NR)
                    Kernel1x16(a + (long)i * lda + k0, b + (long)k0 * ldb + j, ldb, c + (long)i * ldc + j, kc, alpha);
                Edge(a + (long)i * lda + k0, b + (long)k0 * ldb, ldb, c + (long)i * ldc, j, j1, kc, alpha);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Kernel4x16(float* a, int lda, float* b, int ldb, float* c, int ldc, int kc, float alpha)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default;
        Vector256<float> c20 = default, c21 = default, c30 = default, c31 = default;
        float* a0 = a, a1 = a + lda, a2 = a + 2 * lda, a3 = a + 3 * lda;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector256.Load(b);
            var b1 = Vector256.Load(b + 8);
            b += ldb;
            var x = Vector256.Create(a0[p]);
            c00 = Vector256.FusedMultiplyAdd(x, b0, c00); c01 = Vector256.FusedMultiplyAdd(x, b1, c01);
            x = Vector256.Create(a1[p]);
            c10 = Vector256.FusedMultiplyAdd(x, b0, c10); c11 = Vector256.FusedMultiplyAdd(x, b1, c11);
            x = Vector256.Create(a2[p]);
            c20 = Vector256.FusedMultiplyAdd(x, b0, c20); c21 = Vector256.FusedMultiplyAdd(x, b1, c21);
            x = Vector256.Create(a3[p]);
            c30 = Vector256.FusedMultiplyAdd(x, b0, c30); c31 = Vector256.FusedMultiplyAdd(x, b1, c31);
        }
        var al = Vector256.Create(alpha);
        Store(c, c00, c01, al); Store(c + ldc, c10, c11, al);
        Store(c + 2 * ldc, c20, c21, al); Store(c + 3 * ldc, c30, c31, al);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Kernel1x16(float* a, float* b, int ldb, float* c, int kc, float alpha)
    {
        Vector256<float> c0 = default, c1 = default;
        for (int p = 0; p < kc; p++)
        {
            var x = Vector256.Create(a[p]);
            c0 = Vector256.FusedMultiplyAdd(x, Vector256.Load(b), c0);
            c1 = Vector256.FusedMultiplyAdd(x, Vector256.Load(b + 8), c1);
            b += ldb;
        }
        Store(c, c0, c1, Vector256.Create(alpha));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Store(float* c, Vector256<float> v0, Vector256<float> v1, Vector256<float> alpha)
    {
        Vector256.FusedMultiplyAdd(alpha, v0, Vector256.Load(c)).Store(c);
        Vector256.FusedMultiplyAdd(alpha, v1, Vector256.Load(c + 8)).Store(c + 8);
    }

    /// <summary>Columns [j, j1) of one C row that do not fill a micro-kernel: 8-wide, then scalar.</summary>
    private static unsafe void Edge(float* aRow, float* bPanel, int ldb, float* cRow, int j, int j1, int kc, float alpha)
    {
        for (; j + 8 <= j1; j += 8)
        {
            Vector256<float> acc = default;
            float* bp = bPanel + j;
            for (int p = 0; p < kc; p++, bp += ldb)
                acc = Vector256.FusedMultiplyAdd(Vector256.Create(aRow[p]), Vector256.Load(bp), acc);
            Vector256.FusedMultiplyAdd(Vector256.Create(alpha), acc, Vector256.Load(cRow + j)).Store(cRow + j);
        }
        for (; j < j1; j++)
        {
            float acc = 0f;
            float* bp = bPanel + j;
            for (int p = 0; p < kc; p++, bp += ldb) acc = MathF.FusedMultiplyAdd(aRow[p], *bp, acc);
            cRow[j] = MathF.FusedMultiplyAdd(alpha, acc, cRow[j]);
        }
    }
}
