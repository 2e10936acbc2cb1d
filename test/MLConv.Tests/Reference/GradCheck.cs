using MLConv.Training.Layers;
using MLConv.Training.Tensors;

namespace MLConv.Tests.Reference;

/// <summary>
/// Checks a layer against an independent double-precision reference forward:
/// 1. the float32 forward equals the reference forward;
/// 2. with L = Σ y ⊙ R for a random R (so dL/dy = R), the float32 backward's input and parameter
///    gradients equal central finite differences of the reference, (L(θ + h) − L(θ − h)) / 2h, h = 1e-4.
/// Tolerance: max |analytic − numeric| ≤ 2e-3 · max |numeric| per tensor. Central differences in double
/// have truncation error O(h²·f''') ≈ 1e-8 relative; the float32 path rounds each product at ~6e-8 and
/// sums up to a few hundred terms, which stays below ~1e-4 relative. An indexing or formula error moves
/// a gradient by O(1) of its scale, far above 2e-3.
/// </summary>
internal static class GradCheck
{
    public delegate double[] RefForward(double[] x, double[][] parameters);

    public const double Tolerance = 2e-3;

    /// <param name="step">The difference step h. The sweeps take 1e-6 (the reference is double): a random input then lies within h of a
    /// kink (ReLU's 0, a max-pooling tie) a hundred times less often than at 1e-4.</param>
    /// <param name="allowZeroGradient">Accept a gradient that is identically zero when the analytic one is exactly zero too (a random
    /// configuration may read no input at all, e.g. a dilated window stepping over a one-row image).</param>
    public static void Run(Layer layer, int[] inputShape, RefForward reference, int seed, bool training = true, int maxChecks = 160,
        double step = 1e-4, bool allowZeroGradient = false)
    {
        var rng = new Random(seed);
        var x = Random(inputShape, rng);
        var parameters = layer.AllParameters().ToList();
        foreach (var p in parameters)
            for (int i = 0; i < p.Value.Length; i++) p.Value[i] = (float)(rng.NextDouble() * 2 - 1);
        double[][] pd = [.. parameters.Select(p => ToDouble(p.Value))];
        double[] xd = ToDouble(x);

        var y = layer.Forward(x, training);
        var yRef = reference(xd, pd);
        Assert.AreEqual(yRef.Length, y.Length, "output size");
        AssertClose(yRef, ToDouble(y), 1e-4, "forward vs naive reference");

        var r = Random(y.ShapeArray, rng);
        double[] rd = ToDouble(r);
        foreach (var p in parameters) p.Grad.Clear();
        layer.ComputeInputGradient = true;
        var rBefore = r.Span.ToArray();
        var xBefore = x.Span.ToArray();
        var dx = layer.Backward(r);
        CollectionAssert.AreEqual(rBefore, r.Span.ToArray(), "backward must not write into dy");
        CollectionAssert.AreEqual(xBefore, x.Span.ToArray(), "forward/backward must not write into x");

        double Loss(double[] xv, double[][] pv)
        {
            var yy = reference(xv, pv);
            double s = 0;
            for (int i = 0; i < yy.Length; i++) s += yy[i] * rd[i];
            return s;
        }

        CompareAll(dx, xd, parameters, pd, Loss, rng, maxChecks, step, allowZeroGradient);
    }

    /// <summary>dx and every parameter's gradient against central differences of <paramref name="loss"/>.</summary>
    private static void CompareAll(Tensor dx, double[] xd, List<Parameter> parameters, double[][] pd, Func<double[], double[][], double> loss,
        Random rng, int maxChecks, double h, bool allowZeroGradient)
    {
        CompareWithNumeric("dx", ToDouble(dx), xd, v => loss(v, pd), rng, maxChecks, h, allowZeroGradient);
        for (int k = 0; k < parameters.Count; k++)
        {
            int kk = k;
            CompareWithNumeric("d" + parameters[k].Name, ToDouble(parameters[k].Grad), pd[k], v =>
            {
                var pv = (double[][])pd.Clone();
                pv[kk] = v;
                return loss(xd, pv);
            }, rng, maxChecks, h, allowZeroGradient);
        }
    }

    public delegate double[][] RefForwardAll(double[] x, double[][] parameters);

    /// <summary>
    /// <see cref="Run"/> for a graph of several outputs: with L = Σ_k Σ y_k ⊙ R_k, <see cref="Graph.BackwardAll"/> of the
    /// R_k (null where <paramref name="withGradient"/> says no: that output then adds nothing to L) against central
    /// differences of the reference's outputs.
    /// </summary>
    public static void RunAll(Graph graph, int[] inputShape, RefForwardAll reference, int seed, bool[] withGradient, int maxChecks = 160)
    {
        var rng = new Random(seed);
        var x = Random(inputShape, rng);
        var parameters = graph.AllParameters().ToList();
        foreach (var p in parameters)
            for (int i = 0; i < p.Value.Length; i++) p.Value[i] = (float)(rng.NextDouble() * 2 - 1);
        double[][] pd = [.. parameters.Select(p => ToDouble(p.Value))];
        double[] xd = ToDouble(x);

        var ys = graph.ForwardAll(x, training: true);
        var yRef = reference(xd, pd);
        Assert.HasCount(yRef.Length, ys);
        for (int k = 0; k < ys.Count; k++) AssertClose(yRef[k], ToDouble(ys[k]), 1e-4, $"forward output {k} vs naive reference");

        Tensor?[] r = [.. ys.Select((y, k) => withGradient[k] ? Random(y.ShapeArray, rng) : null)];
        double[]?[] rd = [.. r.Select(t => t is null ? null : ToDouble(t))];
        foreach (var p in parameters) p.Grad.Clear();
        graph.ComputeInputGradient = true;
        var dx = graph.BackwardAll(r);

        double Loss(double[] xv, double[][] pv)
        {
            var yy = reference(xv, pv);
            double s = 0;
            for (int k = 0; k < yy.Length; k++)
                if (rd[k] is { } rk)
                    for (int i = 0; i < yy[k].Length; i++) s += yy[k][i] * rk[i];
            return s;
        }

        CompareAll(dx, xd, parameters, pd, Loss, rng, maxChecks, 1e-4, false);
    }

    private static void CompareWithNumeric(string what, double[] analytic, double[] point, Func<double[], double> loss, Random rng, int maxChecks,
        double h, bool allowZeroGradient)
    {
        var idx = Enumerable.Range(0, point.Length).ToArray();
        if (idx.Length > maxChecks) { rng.Shuffle(idx); idx = idx[..maxChecks]; }
        var numeric = new double[idx.Length];
        var picked = new double[idx.Length];
        var v = (double[])point.Clone();
        for (int t = 0; t < idx.Length; t++)
        {
            int i = idx[t];
            double old = v[i];
            v[i] = old + h; double lp = loss(v);
            v[i] = old - h; double lm = loss(v);
            v[i] = old;
            numeric[t] = (lp - lm) / (2 * h);
            picked[t] = analytic[i];
        }
        double scale = numeric.Select(Math.Abs).DefaultIfEmpty(0).Max();
        double err = numeric.Select((n, t) => Math.Abs(n - picked[t])).DefaultIfEmpty(0).Max();
        if (allowZeroGradient && scale == 0 && picked.All(a => a == 0)) return;
        Assert.IsTrue(scale > 0, $"{what}: numeric gradient is identically zero; the check would prove nothing.");
        Assert.IsTrue(err <= Tolerance * scale, $"{what}: max |analytic − numeric| = {err:E3} exceeds {Tolerance} × {scale:E3}.");
    }

    public static Tensor Random(int[] shape, Random rng)
    {
        var t = new Tensor(shape);
        for (int i = 0; i < t.Length; i++) t[i] = (float)(rng.NextDouble() * 2 - 1);
        return t;
    }

    public static double[] ToDouble(Tensor t) => [.. t.Span.ToArray().Select(v => (double)v)];

    public static void AssertClose(double[] expected, double[] actual, double relTol, string what)
    {
        double scale = Math.Max(1e-12, expected.Select(Math.Abs).DefaultIfEmpty(0).Max());
        for (int i = 0; i < expected.Length; i++)
            Assert.IsTrue(Math.Abs(expected[i] - actual[i]) <= relTol * scale,
                $"{what}: element {i}: expected {expected[i]}, got {actual[i]} (scale {scale}).");
    }
}
