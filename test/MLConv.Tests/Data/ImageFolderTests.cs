using System.Buffers.Binary;
using MLConv.Training.Data;

namespace MLConv.Tests.Data;

[TestClass]
public sealed class ImageFolderTests
{
    private static void Gray(string path, int w, int h, byte value) => Png.Write(path, Enumerable.Repeat(value, w * h).ToArray(), w, h, 1);

    private static void Text(string path, string text)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
    }

    [TestMethod]
    public void ExtensionsMatchInAnyCaseAndEverythingElseIsReportedWithItsReason()
    {
        using var dir = new TempFolder();
        Gray(dir["a/upper.PNG"], 4, 3, 10);
        Gray(dir["a/lower.png"], 4, 3, 20);
        Directory.CreateDirectory(dir["b"]);
        File.Copy(dir["a/lower.png"], dir["b/photo.JPG"]); // decoded by content, not by name
        Gray(dir["b/x.Bmp.png"], 4, 3, 30);
        Text(dir["b/readme.txt"], "text");
        Text(dir["b/.hidden.png"], "hidden");
        Directory.CreateDirectory(dir["b/nested"]);

        var folder = ImageFolder.Scan(dir.Path);
        CollectionAssert.AreEqual(new[] { "a/lower.png", "a/upper.PNG", "b/photo.JPG", "b/x.Bmp.png" }, folder.Files.ToArray());
        CollectionAssert.AreEqual(new[] { 0, 0, 1, 1 }, folder.Labels.ToArray());
        var reasons = folder.Skipped.ToDictionary(s => s.RelativePath, s => s.Reason);
        Assert.AreEqual(3, reasons.Count);
        StringAssert.Contains(reasons["b/readme.txt"], "not a PNG, JPEG or BMP file (extension '.txt')");
        Assert.AreEqual("hidden file", reasons["b/.hidden.png"]);
        StringAssert.Contains(reasons["b/nested/"], "one level deep");
    }

    [TestMethod]
    public void LoadFolderNoLongerSkipsUpperCaseExtensions()
    {
        using var dir = new TempFolder();
        Gray(dir["a/0.PNG"], 5, 3, 255);
        Gray(dir["b/0.png"], 5, 3, 0);
        var ds = ImageDataset.LoadFolder(dir.Path);
        Assert.AreEqual(2, ds.Count);
        Assert.AreEqual(1f, ds.Images[0]);
    }

    [TestMethod]
    public void AClassFolderWithoutImagesIsAnErrorNamingIt()
    {
        using var dir = new TempFolder();
        Gray(dir["a/0.png"], 4, 3, 1);
        Text(dir["b/list.csv"], "x");
        var e = Assert.ThrowsExactly<InvalidDataException>(() => ImageFolder.Scan(dir.Path));
        StringAssert.Contains(e.Message, $"'{dir["b"]}'");
        StringAssert.Contains(e.Message, "b/list.csv");
        Directory.CreateDirectory(dir["c"]);
        File.Delete(dir["b/list.csv"]);
        Gray(dir["b/0.png"], 4, 3, 1);
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => ImageFolder.Scan(dir.Path)).Message, "it is empty");
    }

    [TestMethod]
    public void LoadResizesEveryImageToOneSize()
    {
        using var dir = new TempFolder();
        Gray(dir["a/big.png"], 9, 7, 200);
        Gray(dir["b/small.png"], 3, 2, 100);
        var ds = ImageFolder.Scan(dir.Path).Load(3, 4, 5);
        CollectionAssert.AreEqual(new[] { 2, 3, 4, 5 }, ds.Images.Shape.ToArray());
        for (int i = 0; i < 60; i++) Assert.AreEqual(200 / 255f, ds.Images[i], 1e-6f, "a constant image stays constant");
        for (int i = 60; i < 120; i++) Assert.AreEqual(100 / 255f, ds.Images[i], 1e-6f);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => ImageFolder.Scan(dir.Path).Load(1, 7, 9, resize: false));
        StringAssert.Contains(e.Message, "small.png' is 3x2");
    }

    [TestMethod]
    public void SelectAndSplitsNameWhatIsWrong()
    {
        using var dir = new TempFolder();
        for (int i = 0; i < 5; i++) { Gray(dir[$"a/{i}.png"], 2, 2, 1); Gray(dir[$"b/{i}.png"], 2, 2, 2); }
        Text(dir["a/n.txt"], "");
        var folder = ImageFolder.Scan(dir.Path);
        Assert.AreEqual("relativePaths", Assert.ThrowsExactly<ArgumentException>(() => folder.Select(["z/0.png"])).ParamName);
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => folder.Select(["a/n.txt"])).Message, "not a PNG, JPEG or BMP");
        Assert.ThrowsExactly<FileNotFoundException>(() => folder.Select(["a/9.png"]));

        var split = ImageSplit.Stratified(folder, 0.4, seed: 3);
        Assert.AreEqual(4, split.Test.Count);
        Assert.AreEqual(2, split.Test.Count(f => f.StartsWith("a/", StringComparison.Ordinal)), "stratified: two of each class");
        CollectionAssert.AreEquivalent(folder.Files.ToArray(), split.Train.Concat(split.Test).ToArray());
        CollectionAssert.AreEqual(split.Test.ToArray(), ImageSplit.Stratified(folder, 0.4, seed: 3).Test.ToArray(), "seeded");
        split.Write(dir["s.txt"]);
        var back = ImageSplit.Read(dir["s.txt"]);
        CollectionAssert.AreEqual(split.Train.ToArray(), back.Train.ToArray());
        CollectionAssert.AreEqual(split.Test.ToArray(), back.Test.ToArray());
        File.WriteAllLines(dir["bad.txt"], ["train a/0.png", "validate a/1.png"]);
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => ImageSplit.Read(dir["bad.txt"])).Message, "line 2");
    }

    [TestMethod]
    public void AHeaderClaimingAHugeImageFailsBeforeAllocating()
    {
        using var dir = new TempFolder();
        Gray(dir["a/0.png"], 4, 4, 1);
        var bytes = File.ReadAllBytes(dir["a/0.png"]);
        // IHDR follows the 8-byte signature and the chunk's length and type: width and height, then the chunk's CRC.
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(16), 40000);
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(20), 40000);
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(29), Crc(bytes.AsSpan(12, 17)));
        File.WriteAllBytes(dir["a/0.png"], bytes);

        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.ThrowsExactly<InvalidDataException>(() => ImageDecoder.Read(dir["a/0.png"]));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        StringAssert.Contains(e.Message, "40000x40000");
        StringAssert.Contains(e.Message, "0.png");
        Assert.IsTrue(allocated < 1 << 20, $"allocated {allocated:N0} bytes");
        Assert.ThrowsExactly<InvalidDataException>(() => ImageFolder.Scan(dir.Path).ReadHeaders());
    }

    [TestMethod]
    public void ATruncatedPngIsRefused()
    {
        using var dir = new TempFolder();
        var r = new Random(2);
        var px = new byte[30 * 20];
        r.NextBytes(px);
        Png.Write(dir["a/0.png"], px, 30, 20, 1);
        var bytes = File.ReadAllBytes(dir["a/0.png"]);
        File.WriteAllBytes(dir["a/0.png"], bytes[..(bytes.Length / 2)]);
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => ImageDecoder.Read(dir["a/0.png"])).Message, "0.png");
    }

    private static uint Crc(ReadOnlySpan<byte> data)
    {
        uint c = 0xFFFFFFFFu;
        foreach (byte b in data)
        {
            c ^= b;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        }
        return ~c;
    }
}
