using MLConv.Training.Data;
using MLConv.Training.Tensors;

namespace MLConv.Tests.Data;

[TestClass]
public sealed class ImageDatasetTests
{
    private const int W = 5, H = 3; // non-square on purpose

    /// <summary>root/{b,a,c}/ with 2, 3 and 1 images; "c" holds an RGB image, the rest are gray.</summary>
    private static Dictionary<string, byte[]> MakeFolder(string root)
    {
        var r = new Random(11);
        var written = new Dictionary<string, byte[]>();
        void Add(string rel, int channels)
        {
            var px = new byte[W * H * channels];
            r.NextBytes(px);
            Png.Write(Path.Combine(root, rel), px, W, H, channels);
            written[rel] = px;
        }
        Add("b/1.png", 1); Add("b/0.png", 1);
        Add("a/x.png", 1); Add("a/y.png", 1); Add("a/z.png", 1);
        Add("c/rgb.png", 3);
        File.WriteAllText(Path.Combine(root, "a", "notes.txt"), "not an image");
        File.WriteAllText(Path.Combine(root, "split.txt"), "files at the root are not classes");
        return written;
    }

    [TestMethod]
    public void LoadFolderReadsClassesInOrdinalOrderWithPixelsScaledToUnit()
    {
        using var dir = new TempFolder();
        var px = MakeFolder(dir.Path);
        var ds = ImageDataset.LoadFolder(dir.Path);

        CollectionAssert.AreEqual(new[] { "a", "b", "c" }, ds.ClassNames.ToArray());
        Assert.AreEqual(6, ds.Count);
        Assert.AreEqual((1, H, W), (ds.Channels, ds.Height, ds.Width));
        CollectionAssert.AreEqual(new[] { 0, 0, 0, 1, 1, 2 }, ds.Labels);
        CollectionAssert.AreEqual(new[] { 3, 2, 1 }, ds.CountPerClass());

        string[] order = ["a/x.png", "a/y.png", "a/z.png", "b/0.png", "b/1.png"];
        for (int n = 0; n < order.Length; n++)
            for (int i = 0; i < W * H; i++)
                Assert.AreEqual(px[order[n]][i] / 255f, ds.Images.Data[n * W * H + i], 1e-7f, $"{order[n]} pixel {i}");
        var rgb = px["c/rgb.png"];
        for (int i = 0; i < W * H; i++)
        {
            float luma = (0.299f * rgb[3 * i] + 0.587f * rgb[3 * i + 1] + 0.114f * rgb[3 * i + 2]) / 255f;
            Assert.AreEqual(luma, ds.Images[5, 0, i / W, i % W], 1e-5f);
        }
    }

    [TestMethod]
    public void LoadFolderAsRgbReplicatesGrayAndKeepsColour()
    {
        using var dir = new TempFolder();
        var px = MakeFolder(dir.Path);
        var ds = ImageDataset.LoadFolder(dir.Path, channels: 3);
        Assert.AreEqual(3, ds.Channels);
        var gray = px["a/y.png"];
        var rgb = px["c/rgb.png"];
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < W * H; i++)
            {
                Assert.AreEqual(gray[i] / 255f, ds.Images[1, c, i / W, i % W], 1e-7f);
                Assert.AreEqual(rgb[3 * i + c] / 255f, ds.Images[5, c, i / W, i % W], 1e-7f);
            }
    }

    [TestMethod]
    public void LoadFolderWithAFileListKeepsThatOrderAndAllClasses()
    {
        using var dir = new TempFolder();
        MakeFolder(dir.Path);
        var ds = ImageDataset.LoadFolder(dir.Path, 1, ["b/1.png", "a/z.png", "b/0.png"]);
        CollectionAssert.AreEqual(new[] { "a", "b", "c" }, ds.ClassNames.ToArray());
        CollectionAssert.AreEqual(new[] { 1, 0, 1 }, ds.Labels);
        var full = ImageDataset.LoadFolder(dir.Path);
        CollectionAssert.AreEqual(full.Images.Data.AsSpan(4 * W * H, W * H).ToArray(), ds.Images.Data.AsSpan(0, W * H).ToArray());

        Assert.AreEqual("files", Assert.ThrowsExactly<ArgumentException>(() => ImageDataset.LoadFolder(dir.Path, 1, ["d/0.png"])).ParamName);
        var missing = Assert.ThrowsExactly<FileNotFoundException>(() => ImageDataset.LoadFolder(dir.Path, 1, ["a/x.png", "a/gone.png"]));
        StringAssert.Contains(missing.Message, "gone.png");
    }

    [TestMethod]
    public void AnImageOfAnotherSizeIsNamed()
    {
        using var dir = new TempFolder();
        MakeFolder(dir.Path);
        Png.Write(Path.Combine(dir.Path, "b", "stray.png"), new byte[3 * 5], 3, 5, 1);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => ImageDataset.LoadFolder(dir.Path));
        StringAssert.Contains(e.Message, Path.Combine(dir.Path, "b", "stray.png"));
        StringAssert.Contains(e.Message, "3x5");
        StringAssert.Contains(e.Message, $"{W}x{H}");
    }

    [TestMethod]
    public void ACorruptImageIsNamed()
    {
        using var dir = new TempFolder();
        MakeFolder(dir.Path);
        File.WriteAllText(Path.Combine(dir.Path, "c", "broken.png"), "garbage");
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => ImageDataset.LoadFolder(dir.Path)).Message, "broken.png");
    }

    [TestMethod]
    public void EmptyOrMissingFoldersAreReported()
    {
        using var dir = new TempFolder();
        Assert.ThrowsExactly<InvalidDataException>(() => ImageDataset.LoadFolder(dir.Path));
        Directory.CreateDirectory(Path.Combine(dir.Path, "a"));
        Assert.ThrowsExactly<InvalidDataException>(() => ImageDataset.LoadFolder(dir.Path));
        Assert.ThrowsExactly<DirectoryNotFoundException>(() => ImageDataset.LoadFolder(dir["absent"]));
        Assert.AreEqual("channels", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ImageDataset.LoadFolder(dir.Path, 2)).ParamName);
    }

    private static ImageDataset Numbered(int n)
    {
        // Image i is filled with the value i, so copies are easy to trace.
        var t = new Tensor(n, 2, 3, 4);
        for (int i = 0; i < n; i++) t.Data.AsSpan(i * 24, 24).Fill(i);
        return new ImageDataset(t, [.. Enumerable.Range(0, n).Select(i => i % 3)], ["x", "y", "z"]);
    }

    [TestMethod]
    public void SubsetAndGetBatchCopyTheChosenImages()
    {
        var ds = Numbered(7);
        var sub = ds.Subset([6, 2, 2]);
        Assert.AreEqual(3, sub.Count);
        CollectionAssert.AreEqual(new[] { 0, 2, 2 }, sub.Labels);
        Assert.AreEqual(6f, sub.Images[0, 1, 2, 3]);
        Assert.AreEqual(2f, sub.Images[2, 0, 0, 0]);
        sub.Images[0, 0, 0, 0] = -1;
        Assert.AreEqual(6f, ds.Images[6, 0, 0, 0], "Subset copies");

        var batch = new Tensor(2, 2, 3, 4);
        var labels = new int[5];
        ds.GetBatch([5, 1], batch, labels);
        Assert.IsTrue(batch.Data.AsSpan(0, 24).ToArray().All(v => v == 5f));
        Assert.IsTrue(batch.Data.AsSpan(24, 24).ToArray().All(v => v == 1f));
        CollectionAssert.AreEqual(new[] { 2, 1, 0, 0, 0 }, labels);

        Assert.AreEqual("destination", Assert.ThrowsExactly<ArgumentException>(() => ds.GetBatch([1, 2, 3], batch, labels)).ParamName);
        Assert.AreEqual("labels", Assert.ThrowsExactly<ArgumentException>(() => ds.GetBatch([1, 2], batch, new int[1])).ParamName);
        Assert.AreEqual("indices", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ds.GetBatch([1, 7], batch, labels)).ParamName);
        Assert.AreEqual("indices", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ds.Subset([-1])).ParamName);
    }

    [TestMethod]
    public void ConstructorValidatesLabelsAndCounts()
    {
        var t = new Tensor(3, 1, 2, 2);
        Assert.AreEqual("labels", Assert.ThrowsExactly<ArgumentException>(() => new ImageDataset(t, [0, 1], ["a", "b"])).ParamName);
        Assert.AreEqual("labels", Assert.ThrowsExactly<ArgumentException>(() => new ImageDataset(t, [0, 1, 2], ["a", "b"])).ParamName);
        Assert.AreEqual("labels", Assert.ThrowsExactly<ArgumentException>(() => new ImageDataset(t, [0, -1, 1], ["a", "b"])).ParamName);
        Assert.AreEqual("images", Assert.ThrowsExactly<ArgumentException>(() => new ImageDataset(new Tensor(3, 4), [0, 1, 1], ["a", "b"])).ParamName);
        Assert.AreEqual("classNames", Assert.ThrowsExactly<ArgumentException>(() => new ImageDataset(t, [0, 0, 0], [])).ParamName);
    }
}
