using MLConv.Export.Layers;
using MLConv.Training.Layers;
using MLConv.Training.Tensors;

namespace MLConv.Export.Tests.Layers;

[TestClass]
public sealed class SoftmaxTests
{
    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void ForwardIsStableAndBackwardMatchesFiniteDifferences(bool log)
    {
        var layer = new Softmax(log);
        var x = Fixtures.RandomTensor(new Random(1), [3, 5], 2f);
        x[0] = 500f;  // exp would overflow without the max shift
        var y = layer.Forward(x, true).Clone();
        for (int i = 0; i < 3; i++)
        {
            double sum = 0;
            for (int j = 0; j < 5; j++) sum += log ? Math.Exp(y[i * 5 + j]) : y[i * 5 + j];
            Assert.AreEqual(1.0, sum, 1e-5);
        }

        // L = Σ w·y with fixed random w, so dL/dy = w.
        var w = Fixtures.RandomTensor(new Random(2), [3, 5]);
        var xs = Fixtures.RandomTensor(new Random(3), [3, 5]);
        layer.Forward(xs, true);
        var dx = layer.Backward(w).Clone();
        const float h = 1e-2f;
        for (int k = 0; k < xs.Length; k++)
        {
            float keep = xs[k];
            xs[k] = keep + h; double up = Loss(layer, xs, w);
            xs[k] = keep - h; double down = Loss(layer, xs, w);
            xs[k] = keep;
            Assert.AreEqual((up - down) / (2 * h), dx[k], 2e-3, $"element {k}");
        }
    }

    private static double Loss(Softmax layer, Tensor x, Tensor w)
    {
        var y = layer.Forward(x, true);
        double l = 0;
        for (int i = 0; i < y.Length; i++) l += (double)y[i] * w[i];
        return l;
    }

    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void ExportsAndMatchesOnnxRuntime(bool log) =>
        Fixtures.AssertMatchesOrt(new Sequential(new Flatten(), new Linear(12, 6), new Softmax(log)), [3, 2, 2], batch: 4);

    [TestMethod]
    public void RejectsRank4() => Assert.ThrowsExactly<ArgumentException>(() => new Softmax().Forward(new Tensor(1, 2, 2, 2), false));
}
