using System.Runtime.Intrinsics;
using MLConv.Training.Layers;
using MLConv.Training.Tensors;

namespace MLConv.Training.Optimizers;

/// <summary>
/// Adam (Kingma &amp; Ba), PyTorch's formulation: g = ∇ + λw; m ← β₁m + (1 − β₁)g; v ← β₂v + (1 − β₂)g²;
/// w ← w − lr·(m / (1 − β₁ᵗ)) / (√(v / (1 − β₂ᵗ)) + ε).
/// </summary>
public sealed class Adam : Optimizer
{
    private readonly Tensor[] _m, _v;
    private float _stepSize, _invSqrtBc2;

    /// <summary>An Adam optimizer over <paramref name="parameters"/>, moments zero.</summary>
    /// <param name="parameters">The parameters to update (copied into a list; at least one).</param>
    /// <param name="lr">Learning rate (finite, &gt; 0).</param>
    /// <param name="beta1">β₁, the first moment's decay, in [0, 1).</param>
    /// <param name="beta2">β₂, the second moment's decay, in [0, 1).</param>
    /// <param name="eps">ε in the denominator (&gt; 0).</param>
    /// <param name="weightDecay">L2 weight decay λ (≥ 0), added to the gradient of parameters with <see cref="Parameter.Decay"/>.</param>
    /// <exception cref="ArgumentNullException"><paramref name="parameters"/> is null.</exception>
    /// <exception cref="ArgumentException">No parameters.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A hyper-parameter is out of its range.</exception>
    public Adam(IEnumerable<Parameter> parameters, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weightDecay = 0)
        : base(parameters, lr, weightDecay)
    {
        if (!(beta1 >= 0 && beta1 < 1)) throw new ArgumentOutOfRangeException(nameof(beta1), beta1, "beta1 must be in [0, 1).");
        if (!(beta2 >= 0 && beta2 < 1)) throw new ArgumentOutOfRangeException(nameof(beta2), beta2, "beta2 must be in [0, 1).");
        if (!(eps > 0)) throw new ArgumentOutOfRangeException(nameof(eps), eps, "eps must be > 0.");
        Beta1 = beta1; Beta2 = beta2; Eps = eps;
        _m = [.. Params.Select(p => new Tensor(p.Value.ShapeArray))];
        _v = [.. Params.Select(p => new Tensor(p.Value.ShapeArray))];
    }

    /// <summary>β₁, the first moment's decay.</summary>
    public double Beta1 { get; }
    /// <summary>β₂, the second moment's decay.</summary>
    public double Beta2 { get; }
    /// <summary>ε in the denominator.</summary>
    public double Eps { get; }
    /// <inheritdoc/>
    public override IReadOnlyList<Tensor> State => [.. _m, .. _v];

    /// <summary>The element-wise update, 8 lanes at a time; the tail runs the same operations in the same order.</summary>
    private static void Update(ReadOnlySpan<float> g, Span<float> m, Span<float> v, Span<float> w,
        float b1, float b2, float stepSize, float invSqrtBc2, float eps)
    {
        int j = 0, n = g.Length, lanes = Vector256<float>.Count;
        var vb1 = Vector256.Create(b1); var vb1c = Vector256.Create(1 - b1);
        var vb2 = Vector256.Create(b2); var vb2c = Vector256.Create(1 - b2);
        var vStep = Vector256.Create(stepSize); var vInv = Vector256.Create(invSqrtBc2); var vEps = Vector256.Create(eps);
        for (; j + lanes <= n; j += lanes)
        {
            var gj = Vector256.Create(g.Slice(j, lanes));
            var mj = vb1 * Vector256.Create(m.Slice(j, lanes)) + vb1c * gj;
            var vj = vb2 * Vector256.Create(v.Slice(j, lanes)) + vb2c * gj * gj;
            mj.CopyTo(m.Slice(j));
            vj.CopyTo(v.Slice(j));
            (Vector256.Create(w.Slice(j, lanes)) - vStep * mj / (Vector256.Sqrt(vj) * vInv + vEps)).CopyTo(w.Slice(j));
        }
        for (; j < n; j++)
        {
            float gj = g[j];
            m[j] = b1 * m[j] + (1 - b1) * gj;
            v[j] = b2 * v[j] + (1 - b2) * gj * gj;
            w[j] -= stepSize * m[j] / (MathF.Sqrt(v[j]) * invSqrtBc2 + eps);
        }
    }

    /// <summary>Bias corrections of step t: stepSize = lr / (1 − β₁ᵗ), 1 / √(1 − β₂ᵗ).</summary>
    protected override void BeginStep()
    {
        double bc1 = 1 - Math.Pow(Beta1, StepCount), bc2 = 1 - Math.Pow(Beta2, StepCount);
        _stepSize = (float)(LearningRate / bc1);
        _invSqrtBc2 = (float)(1 / Math.Sqrt(bc2));
    }

    /// <inheritdoc/>
    protected override void Update(int index, Span<float> g, Span<float> w)
    {
        const int Chunk = 1 << 16;
        if (g.Length < 2 * Chunk || Kernels.Parallelism.MaxThreads == 1)
            Update(g, _m[index].Span, _v[index].Span, w, (float)Beta1, (float)Beta2, _stepSize, _invSqrtBc2, (float)Eps);
        else UpdateParallel(index, g, w, Chunk);
    }

    /// <summary>A large tensor in chunks on several threads (element-wise: the same result as one pass).</summary>
    private unsafe void UpdateParallel(int index, Span<float> g, Span<float> w, int chunk)
    {
        int n = g.Length, chunks = (n + chunk - 1) / chunk;
        float b1 = (float)Beta1, b2 = (float)Beta2, step = _stepSize, inv = _invSqrtBc2, eps = (float)Eps;
        fixed (float* pg = g, pw = w, pm = _m[index].Span, pv = _v[index].Span)
        {
            nint ig = (nint)pg, iw = (nint)pw, im = (nint)pm, iv = (nint)pv;
            Kernels.Parallelism.For(chunks, chunk, c =>
            {
                int a = c * chunk, len = Math.Min(chunk, n - a);
                Update(new ReadOnlySpan<float>((float*)ig + a, len), new Span<float>((float*)im + a, len), new Span<float>((float*)iv + a, len),
                    new Span<float>((float*)iw + a, len), b1, b2, step, inv, eps);
            });
        }
    }
}
