using MLConv.Training.Tensors;

namespace MLConv.Tests.Tensors;

[TestClass]
public sealed class RowsTests
{
    [TestMethod]
    public void SoftmaxNormalisesAndReturnsLogSumExp()
    {
        float[] z = [1f, -2f, 3.5f, 0f];
        var p = new float[4];
        double lse = Rows.Softmax(z, p);
        double expected = Math.Log(z.Sum(v => Math.Exp(v)));
        Assert.AreEqual(expected, lse, 1e-6);
        for (int j = 0; j < 4; j++) Assert.AreEqual(Math.Exp(z[j] - expected), p[j], 1e-6);
        var big = Rows.Softmax(Tensor.FromArray([1000f, 1000f, 2f, 1e-3f, 0f, 0f], 2, 3));
        Assert.AreEqual(0.5f, big[0, 0], 1e-6f);
        Assert.AreEqual(1.0, Enumerable.Range(0, 3).Sum(k => big[1, k]), 1e-6);
    }

    [TestMethod]
    public void ArgMaxTakesTheFirstOnTies() =>
        Assert.AreEqual(1, Rows.ArgMax([0f, 2f, -1f, 2f]));

    [TestMethod]
    public void GatherCopiesRowsInIndexOrderAndChecksIndices()
    {
        var x = Tensor.FromArray([.. Enumerable.Range(0, 12).Select(i => (float)i)], 3, 2, 2, 1);
        var g = Rows.Gather(x, [2, 0, 2]);
        CollectionAssert.AreEqual(new[] { 3, 2, 2, 1 }, g.ShapeArray);
        CollectionAssert.AreEqual(new float[] { 8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11 }, g.Span.ToArray());
        Assert.AreEqual("indices", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Rows.Gather(x, [3])).ParamName);
    }
}
