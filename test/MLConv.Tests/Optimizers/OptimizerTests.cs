using MLConv.Training.Layers;
using MLConv.Training.Optimizers;
using MLConv.Training.Tensors;

namespace MLConv.Tests.Optimizers;

[TestClass]
public sealed class OptimizerTests
{
    private static Parameter Param(params float[] v) => new("w", Tensor.FromArray(v, v.Length));

    [TestMethod]
    public void SgdMomentumNesterovAndDecayFollowPyTorch()
    {
        foreach (bool nesterov in new[] { false, true })
        {
            var p = Param(1f, -2f);
            var opt = new Sgd([p], lr: 0.1, momentum: 0.9, weightDecay: 0.01, nesterov: nesterov);
            double[] w = [1, -2], v = [0, 0];
            for (int step = 0; step < 3; step++)
            {
                double[] grad = [0.5 * (step + 1), -0.25];
                p.Grad[0] = (float)grad[0]; p.Grad[1] = (float)grad[1];
                opt.Step();
                for (int i = 0; i < 2; i++)
                {
                    double g = grad[i] + 0.01 * w[i];
                    v[i] = 0.9 * v[i] + g;
                    w[i] -= 0.1 * (nesterov ? g + 0.9 * v[i] : v[i]);
                    Assert.AreEqual(w[i], p.Value[i], 1e-5);
                }
            }
        }
    }

    /// <summary>A tensor large enough for the chunked, multi-threaded update: the same bits on 1 and 3 threads, and the scalar rule.</summary>
    [TestMethod]
    public void AdamOnALargeTensorDoesNotDependOnTheThreadCount()
    {
        const int n = 300_001;
        var r = new Random(3);
        float[] w0 = [.. Enumerable.Range(0, n).Select(_ => (float)r.NextDouble() - 0.5f)];
        float[] g0 = [.. Enumerable.Range(0, n).Select(_ => (float)r.NextDouble() - 0.5f)];
        float[] Run(int threads)
        {
            int saved = MLConv.Training.Kernels.Parallelism.MaxThreads;
            try
            {
                MLConv.Training.Kernels.Parallelism.MaxThreads = threads;
                var p = Param([.. w0]);
                var opt = new Adam([p], lr: 0.01);
                for (int t = 0; t < 3; t++)
                {
                    g0.AsSpan().CopyTo(p.Grad.Span);
                    opt.Step();
                }
                return p.Value.Span.ToArray();
            }
            finally { MLConv.Training.Kernels.Parallelism.MaxThreads = saved; }
        }
        var one = Run(1);
        CollectionAssert.AreEqual(one, Run(3));
        // Element 200,000 (a later chunk) follows the scalar rule: three steps of the same gradient.
        double w = w0[200_000], m = 0, v = 0, gr = g0[200_000];
        for (int t = 1; t <= 3; t++)
        {
            m = 0.9 * m + 0.1 * gr;
            v = 0.999 * v + 0.001 * gr * gr;
            w -= 0.01 * (m / (1 - Math.Pow(0.9, t))) / (Math.Sqrt(v / (1 - Math.Pow(0.999, t))) + 1e-8);
        }
        Assert.AreEqual(w, one[200_000], 1e-6);
    }

    [TestMethod]
    public void AdamFollowsBiasCorrectedUpdate()
    {
        var p = Param(0.5f);
        var opt = new Adam([p], lr: 0.01, weightDecay: 0.1);
        double w = 0.5, m = 0, v = 0;
        for (int t = 1; t <= 4; t++)
        {
            double grad = Math.Sin(t);
            p.Grad[0] = (float)grad;
            opt.Step();
            double g = grad + 0.1 * w;
            m = 0.9 * m + 0.1 * g;
            v = 0.999 * v + 0.001 * g * g;
            w -= 0.01 * (m / (1 - Math.Pow(0.9, t))) / (Math.Sqrt(v / (1 - Math.Pow(0.999, t))) + 1e-8);
            Assert.AreEqual(w, p.Value[0], 1e-6);
        }
    }

    [TestMethod]
    public void BadHyperParametersThrow()
    {
        Assert.AreEqual("learningRate", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Sgd([Param(1)], lr: -1)).ParamName);
        Assert.AreEqual("momentum", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Sgd([Param(1)], momentum: 1)).ParamName);
        Assert.AreEqual("beta1", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Adam([Param(1)], beta1: 1)).ParamName);
    }
}
