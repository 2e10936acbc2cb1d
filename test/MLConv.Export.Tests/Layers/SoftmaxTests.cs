using MLConv.Training.Layers;

namespace MLConv.Export.Tests.Layers;

[TestClass]
public sealed class SoftmaxExportTests
{
    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void ExportsAndMatchesOnnxRuntime(bool log) =>
        Fixtures.AssertMatchesOrt(new Sequential(new Flatten(), new Linear(12, 6), new Softmax(log)), [3, 2, 2], batch: 4);
}
