using MLConv.Training.Kernels;

namespace MLConv.Tests.Kernels;

[TestClass]
public sealed class GemmTests
{
    private static float[] Rand(int n, Random r) => [.. Enumerable.Range(0, n).Select(_ => (float)(r.NextDouble() * 2 - 1))];

    [TestMethod]
    [DataRow(1, 1, 1)]
    [DataRow(3, 5, 7)]
    [DataRow(4, 16, 9)]
    [DataRow(13, 37, 29)]
    [DataRow(150, 300, 260)]  // crosses row-tile (72), column-tile (256) and K-block (256) boundaries
    [DataRow(5, 1, 600)]
    [DataRow(130, 17, 3)]
    [DataRow(5, 23, 9000)]    // small M, N and long K: the K-split path
    [DataRow(16, 150, 2500)]
    [DataRow(67, 49, 300)]    // a 17-wide edge strip (ResNet layer4's 7x7 output)
    [DataRow(23, 196, 70)]    // a 4-wide edge strip: the one-vector kernel; K not a multiple of 8
    [DataRow(7, 44, 517)]     // a partial group of 8 transposed B rows, a 5-row strip of A
    [DataRow(200, 600, 40)]   // several column panels and row blocks, short K
    public void MatchesNaiveLoopForAllTransposes(int m, int n, int k)
    {
        var r = new Random(m * 1000 + n * 10 + k);
        foreach (bool ta in new[] { false, true })
        foreach (bool tb in new[] { false, true })
        {
            int lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 2, ldc = n + 1;
            var a = Rand((ta ? k : m) * lda, r);
            var b = Rand((tb ? n : k) * ldb, r);
            var c = Rand(m * ldc, r);
            float alpha = 0.7f, beta = -0.4f;
            var expected = new double[m * ldc];
            for (int i = 0; i < m; i++)
            for (int j = 0; j < ldc; j++)
            {
                if (j >= n) { expected[i * ldc + j] = c[i * ldc + j]; continue; }
                double s = 0;
                for (int p = 0; p < k; p++)
                    s += (double)(ta ? a[p * lda + i] : a[i * lda + p]) * (tb ? b[j * ldb + p] : b[p * ldb + j]);
                expected[i * ldc + j] = alpha * s + beta * c[i * ldc + j];
            }
            Gemm.Multiply(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
            for (int i = 0; i < expected.Length; i++)
                Assert.AreEqual(expected[i], c[i], 1e-4 * Math.Sqrt(k) + 1e-5, $"transA={ta} transB={tb} at {i}");
        }
    }

    /// <summary>Random shapes nobody tuned for (edge strips, partial transposes, several panels): the naive loop again.</summary>
    [TestMethod]
    public void RandomShapesMatchNaiveLoop()
    {
        var r = new Random(20261202);
        for (int trial = 0; trial < 12; trial++)
        {
            int m = r.Next(1, 160), n = r.Next(1, 360), k = r.Next(1, 700);
            bool ta = r.Next(2) == 1, tb = r.Next(2) == 1;
            int lda = (ta ? m : k) + r.Next(3), ldb = (tb ? k : n) + r.Next(3);
            var a = Rand((ta ? k : m) * lda, r);
            var b = Rand((tb ? n : k) * ldb, r);
            var c = new float[m * n];
            Gemm.Multiply(ta, tb, m, n, k, 1f, a, lda, b, ldb, 0f, c, n);
            for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int p = 0; p < k; p++)
                    s += (double)(ta ? a[p * lda + i] : a[i * lda + p]) * (tb ? b[j * ldb + p] : b[p * ldb + j]);
                Assert.AreEqual(s, c[i * n + j], 1e-4 * Math.Sqrt(k) + 1e-5, $"{m}x{n}x{k} transA={ta} transB={tb} at ({i}, {j})");
            }
        }
    }

    /// <summary>A pre-packed A (both transposes, several row tiles and K blocks) gives exactly the plain product.</summary>
    [TestMethod]
    [DataRow(150, 70, 300)]
    [DataRow(151, 70, 600)]   // M not a multiple of 6 (padded strips) and three K blocks
    [DataRow(5, 40, 520)]
    [DataRow(5, 33, 7)]
    public void PackedAMatchesPlainMultiply(int m, int n, int k)
    {
        var r = new Random(m * n + k);
        foreach (bool ta in new[] { false, true })
        foreach (bool tb in new[] { false, true })
        {
            int lda = (ta ? m : k) + 1, ldb = (tb ? k : n) + 2;
            var a = Rand((ta ? k : m) * lda, r);
            var b = Rand((tb ? n : k) * ldb, r);
            var c0 = Rand(m * n, r);
            var c1 = (float[])c0.Clone();
            Gemm.Multiply(ta, tb, m, n, k, 0.5f, a, lda, b, ldb, 0.25f, c0, n, parallel: true);
            using var packed = new Gemm.PackedA(ta, m, k, a, lda);
            Gemm.Multiply(packed, tb, n, 0.5f, b, ldb, 0.25f, c1, n, parallel: true);
            CollectionAssert.AreEqual(c0, c1, $"transA={ta} transB={tb}");
        }
    }

    [TestMethod]
    public void BetaZeroIgnoresNaNInC()
    {
        float[] a = [1, 2], b = [3, 4], c = [float.NaN];
        Gemm.Multiply(false, false, 1, 1, 2, 1f, a, 2, b, 1, 0f, c, 1);
        Assert.AreEqual(11f, c[0]);
    }

    /// <summary>Tiled (150×520×300) and K-split (7×29×9000) products: bit-identical with 1 and with 8 threads.</summary>
    [TestMethod]
    [DataRow(150, 520, 300)]
    [DataRow(7, 29, 9000)]
    public void ResultDoesNotDependOnThreadCount(int m, int n, int k)
    {
        var r = new Random(m + n + k);
        var a = Rand(m * k, r);
        var b = Rand(k * n, r);
        var c1 = new float[m * n];
        var c2 = new float[m * n];
        int saved = Parallelism.MaxThreads;
        try
        {
            Parallelism.MaxThreads = 1;
            Gemm.Multiply(false, false, m, n, k, 1f, a, k, b, n, 0f, c1, n);
            Parallelism.MaxThreads = 8;
            Gemm.Multiply(false, false, m, n, k, 1f, a, k, b, n, 0f, c2, n);
        }
        finally { Parallelism.MaxThreads = saved; }
        CollectionAssert.AreEqual(c1, c2);
    }

    [TestMethod]
    public void TooSmallOperandThrows()
    {
        var e = Assert.ThrowsExactly<ArgumentException>(() => Gemm.Multiply(false, false, 2, 2, 2, 1f, new float[3], 2, new float[4], 2, 0f, new float[4], 2));
        Assert.AreEqual("a", e.ParamName);
    }
}
