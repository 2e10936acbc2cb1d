using CsCheck;
using MLConv.Tests.Layers;
using MLConv.Tests.Reference;
using MLConv.Training.Kernels;
using MLConv.Training.Layers;

namespace MLConv.Tests.Sweeps;

/// <summary>
/// Property sweeps over random configurations (<see cref="RandomLayers"/>): each fast kernel's forward against the naive
/// double-precision reference, and its backward (input and parameter gradients) against central finite differences of
/// that reference (<see cref="GradCheck"/>) — Conv2d with groups, depthwise, stride, dilation and asymmetric padding,
/// ConvTranspose2d, max/min/average pooling with ceil mode and count_include_pad, the element-wise activations, and the
/// GEMM kernel with both transposes. CsCheck shrinks a failure to a minimal configuration and prints it as C#.
/// MLCONV_SWEEP_ITERATIONS sets the iterations of every sweep (the long run); the CI defaults take a few seconds in all.
/// </summary>
[TestClass]
public sealed class LayerSweepTests
{
    private static void Sweep(Gen<LayerCase> gen, long ciIterations, Action<LayerCase> check) =>
        gen.Sample(check, iter: RandomLayers.Iterations(ciIterations), threads: 1, print: c => c.ToString());

    private static Naive.Geo Geo(Window2d g) => new(g.KernelH, g.KernelW, g.StrideH, g.StrideW, g.PadTop, g.PadLeft, g.PadBottom, g.PadRight, g.DilationH, g.DilationW);

    [TestMethod]
    public void Conv2dMatchesTheNaiveReferenceForwardAndBackward() => Sweep(RandomLayers.Conv2d, 40, c =>
    {
        var conv = (Conv2d)c.Build();
        int n = c.Batch, ch = c.Chw[0], h = c.Chw[1], w = c.Chw[2];
        GradCheck.Run(conv, [n, ch, h, w], (x, ps) =>
            Naive.Conv(x, n, ch, h, w, ps[0], conv.HasBias ? ps[1] : null, conv.OutChannels, Geo(conv.Geometry), conv.Groups, out _, out _), seed: c.Text.Length, maxChecks: 60, step: 1e-6, allowZeroGradient: true);
    });

    [TestMethod]
    public void ConvTranspose2dMatchesTheNaiveReferenceForwardAndBackward() => Sweep(RandomLayers.ConvTranspose2d, 30, c =>
    {
        var conv = (ConvTranspose2d)c.Build();
        int n = c.Batch, ch = c.Chw[0], h = c.Chw[1], w = c.Chw[2];
        var shape = conv.OutputShape([n, ch, h, w]);
        GradCheck.Run(conv, [n, ch, h, w], (x, ps) =>
            ConvTranspose2dTests.Reference(x, ps[0], conv.Bias is null ? null : ps[1], n, ch, h, w, conv.OutChannels, conv, shape[2], shape[3]), seed: c.Text.Length, maxChecks: 60, step: 1e-6, allowZeroGradient: true);
    });

    [TestMethod]
    public void PoolingMatchesTheNaiveReferenceForwardAndBackward() => Sweep(RandomLayers.Pool, 60, c =>
    {
        var pool = (Pool2dLayer)c.Build();
        int n = c.Batch, ch = c.Chw[0], h = c.Chw[1], w = c.Chw[2];
        var kind = pool.Mode switch { PoolMode.Max => Naive.PoolKind.Max, PoolMode.Min => Naive.PoolKind.Min, _ => Naive.PoolKind.Avg };
        GradCheck.Run(pool, [n, ch, h, w], (x, ps) =>
            Naive.Pool(x, n, ch, h, w, Geo(pool.Geometry), kind, pool.CeilMode, pool.CountIncludePad, out _, out _), seed: c.Text.Length, maxChecks: 60, step: 1e-6, allowZeroGradient: true);
    });

    private static readonly Gen<(string Name, int N, int C, int H, int W)> ActivationCase =
        from i in Gen.Int[0, ActivationTests.Cases.Count - 1]
        let name = ActivationTests.Cases.Keys.ElementAt(i)
        from n in Gen.Int[1, 3]
        from c in Gen.Int[1, 4]
        from h in Gen.Int[1, 5]
        from w in Gen.Int[1, 5]
        select (name, n, c, h, w);

    [TestMethod]
    public void ActivationsMatchTheirFunctionsOnAnyShape() =>
        ActivationCase.Sample(a =>
        {
            var (build, f, _) = ActivationTests.Cases[a.Name];
            GradCheck.Run(build(), [a.N, a.C, a.H, a.W], (x, _) => [.. x.Select(f)], seed: a.Name.Length + a.H, maxChecks: 40, step: 1e-6);
        }, iter: RandomLayers.Iterations(40), threads: 1, print: a => $"{a.Name} on [{a.N}, {a.C}, {a.H}, {a.W}]");

    private static readonly Gen<(int M, int N, int K, bool TransA, bool TransB, float Alpha, float Beta, int Seed)> GemmCase =
        from m in Gen.Int[1, 90]
        from n in Gen.Int[1, 300]
        from k in Gen.Int[1, 300]
        from ta in Gen.Bool
        from tb in Gen.Bool
        from alpha in Gen.Float[-2, 2]
        from betaIndex in Gen.Int[0, 2]
        let beta = new[] { 0f, 1f, -0.5f }[betaIndex]
        from seed in Gen.Int[0, 1000]
        select (m, n, k, ta, tb, alpha, beta, seed);

    [TestMethod]
    public void GemmMatchesTheNaiveLoop() =>
        GemmCase.Sample(g =>
        {
            var r = new Random(g.Seed);
            int lda = (g.TransA ? g.M : g.K) + 1, ldb = (g.TransB ? g.K : g.N) + 2, ldc = g.N + 3;
            float[] a = Rand((g.TransA ? g.K : g.M) * lda, r), b = Rand((g.TransB ? g.N : g.K) * ldb, r), c = Rand(g.M * ldc, r);
            var expected = new double[c.Length];
            for (int i = 0; i < g.M; i++)
            for (int j = 0; j < ldc; j++)
            {
                if (j >= g.N) { expected[i * ldc + j] = c[i * ldc + j]; continue; }
                double s = 0;
                for (int p = 0; p < g.K; p++)
                    s += (double)(g.TransA ? a[p * lda + i] : a[i * lda + p]) * (g.TransB ? b[j * ldb + p] : b[p * ldb + j]);
                expected[i * ldc + j] = g.Alpha * s + g.Beta * c[i * ldc + j];
            }
            Gemm.Multiply(g.TransA, g.TransB, g.M, g.N, g.K, g.Alpha, a, lda, b, ldb, g.Beta, c, ldc);
            double tol = 1e-5 * (Math.Sqrt(g.K) * Math.Abs(g.Alpha) + 1);
            for (int i = 0; i < c.Length; i++)
                if (!(Math.Abs(expected[i] - c[i]) <= tol)) throw new AssertFailedException($"C[{i / ldc}, {i % ldc}] = {c[i]}, expected {expected[i]}");
        }, iter: RandomLayers.Iterations(40), threads: 1, print: g => $"Gemm {g}");

    private static float[] Rand(int n, Random r)
    {
        var v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float)(r.NextDouble() * 2 - 1);
        return v;
    }
}
