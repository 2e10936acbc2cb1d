using MLConv.Tests.Reference;
using MLConv.Training.Layers;
using MLConv.Training.Tensors;

namespace MLConv.Tests.Layers;

[TestClass]
public sealed class SoftmaxTests
{
    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void Gradients(bool log) => GradCheck.Run(new Softmax(log), [4, 7], (x, _) => Naive.Softmax(x, 4, 7, log), log ? 2 : 1);

    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void StableForLargeLogits(bool log)
    {
        var x = Tensor.FromArray([500f, 0f, -3f, 1f, 2f, 3f], 2, 3);
        var y = new Softmax(log).Forward(x, false);
        for (int i = 0; i < 2; i++)
        {
            double sum = 0;
            for (int j = 0; j < 3; j++) sum += log ? Math.Exp(y[i * 3 + j]) : y[i * 3 + j];
            Assert.AreEqual(1.0, sum, 1e-5);
        }
        Assert.IsTrue(y.Span.ToArray().All(float.IsFinite));
    }

    [TestMethod]
    public void RejectsRank4()
    {
        var e = Assert.ThrowsExactly<ArgumentException>(() => new Softmax().Forward(new Tensor(1, 2, 2, 2), false));
        Assert.AreEqual("x", e.ParamName);
    }
}

/// <summary>Softmax over one axis of a tensor of any rank (ONNX opset 13), against a naive line-by-line reference.</summary>
[TestClass]
public sealed class SoftmaxAxisTests
{
    /// <summary>For each index outside <paramref name="axis"/>, the softmax (or log-softmax) of the line along it, in double.</summary>
    private static double[] NaiveAxis(double[] x, int[] shape, int axis, bool log)
    {
        int outer = shape[..axis].Aggregate(1, (p, d) => p * d), k = shape[axis], inner = shape[(axis + 1)..].Aggregate(1, (p, d) => p * d);
        var y = new double[x.Length];
        for (int o = 0; o < outer; o++)
            for (int i = 0; i < inner; i++)
            {
                int At(int j) => (o * k + j) * inner + i;
                double m = Enumerable.Range(0, k).Max(j => x[At(j)]);
                double sum = Enumerable.Range(0, k).Sum(j => Math.Exp(x[At(j)] - m));
                for (int j = 0; j < k; j++) y[At(j)] = log ? x[At(j)] - m - Math.Log(sum) : Math.Exp(x[At(j)] - m) / sum;
            }
        return y;
    }

    [TestMethod]
    [DataRow(1, false)]
    [DataRow(1, true)]
    [DataRow(2, false)]
    [DataRow(3, true)]
    public void GradientsOverOneAxis(int axis, bool log)
    {
        int[] shape = [2, 3, 4, 5];
        GradCheck.Run(new Softmax(log, axis), shape, (x, _) => NaiveAxis(x, shape, axis, log), seed: 3 + axis);
    }

    [TestMethod]
    public void TheLastAxisOfRankTwoEqualsTheRowSoftmax()
    {
        var x = GradCheck.Random([3, 7], new Random(2));
        CollectionAssert.AreEqual(new Softmax().Forward(x, false).Span.ToArray(), new Softmax(axis: 1).Forward(x, false).Span.ToArray());
    }

    [TestMethod]
    public void SpecKeepsTheAxisAndOmitsItWhenUnset()
    {
        Assert.AreEqual("{\"type\":\"Softmax\"}", new Softmax().ToSpec().ToJsonString());
        var back = (Softmax)LayerFactory.FromSpec(new Softmax(log: true, axis: 2).ToSpec());
        Assert.AreEqual(2, back.Axis);
        Assert.IsTrue(back.Log);
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Softmax(axis: 0));
        Assert.ThrowsExactly<ArgumentException>(() => new Softmax(axis: 3).OutputShape([2, 3, 4]));
    }
}
