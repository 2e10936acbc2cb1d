using Microsoft.ML.Data;

namespace MLConv.Transforms.Tests;

/// <summary>How TrainCnn reads the image shape from the features column when the options leave it out.</summary>
[TestClass]
public sealed class ImageShapeTests
{
    private static ImageShape Resolve(VectorDataViewType type, int? channels = null, int? height = null, int? width = null) =>
        ImageShape.Resolve(new CnnTrainerOptions { Channels = channels, ImageHeight = height, ImageWidth = width }, type);

    private static VectorDataViewType Flat(int size) => new(NumberDataViewType.Single, size);

    [TestMethod]
    public void ExtractPixelsDimensionsGiveTheShape()
    {
        var planar = new VectorDataViewType(NumberDataViewType.Single, 3, 20, 14);
        Assert.AreEqual(new ImageShape(3, 20, 14), Resolve(planar));
        Assert.AreEqual(new ImageShape(3, 20, 14), Resolve(planar, channels: 3, height: 20));
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Resolve(planar, channels: 1));
        StringAssert.Contains(e.Message, "Vector<Single, 3, 20, 14>");
        StringAssert.Contains(e.Message, "1·20·14 = 280 values");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Resolve(new VectorDataViewType(NumberDataViewType.Single, 2, 4, 4))).Message, "Channels 1, 3 or 4");
    }

    [TestMethod]
    public void AFlatVectorIsReadWithTheGivenSidesOrAsASquare()
    {
        Assert.AreEqual(new ImageShape(1, 28, 28), Resolve(Flat(784), channels: 1));
        Assert.AreEqual(new ImageShape(4, 14, 14), Resolve(Flat(784), channels: 4));
        Assert.AreEqual(new ImageShape(3, 2, 2), Resolve(Flat(12)));                  // only 3 channels make a square
        Assert.AreEqual(new ImageShape(1, 2, 3), Resolve(Flat(6), height: 2, channels: 1));
        Assert.AreEqual(new ImageShape(3, 5, 2), Resolve(Flat(30), width: 2, channels: 3));
        Assert.AreEqual(new ImageShape(1, 16, 12), Resolve(Flat(192), height: 16, width: 12));
        Assert.AreEqual(new ImageShape(3, 16, 12), Resolve(Flat(576), height: 16, width: 12));
    }

    [TestMethod]
    public void AnAmbiguousOrImpossibleSizeIsAClearError()
    {
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Resolve(Flat(784)));
        StringAssert.Contains(e.Message, "'Features'");
        StringAssert.Contains(e.Message, "ambiguous");
        StringAssert.Contains(e.Message, "1 channel of 28x28 or 4 channels of 14x14");
        StringAssert.Contains(e.Message, "set CnnTrainerOptions.ImageHeight, ImageWidth and Channels");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Resolve(Flat(6), height: 2)).Message, "1 channel of 2x3 or 3 channels of 2x1");
        e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Resolve(Flat(10)));
        StringAssert.Contains(e.Message, "cannot be read as a 1-, 3- or 4-channel square planar image");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Resolve(Flat(10), channels: 1, height: 3)).Message, "1-channel 3x?");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Resolve(Flat(12), channels: 1, height: 2, width: 2)).Message, "1·2·2 = 4 values");
    }
}
