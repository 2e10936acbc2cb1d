using System.Globalization;
using System.Text;

namespace MLConv.Training.Data;

/// <summary>
/// A fixed train/test split of an MNIST folder (<c>root/&lt;digit&gt;/&lt;index&gt;.png</c>), stored as
/// <c>root/split.txt</c>: a '#' header with the seed and test fraction, then one line per image,
/// <c>train 3/00012.png</c> or <c>test 3/00012.png</c>. Load each part with
/// <c>ImageDataset.LoadFolder(root, 1, split.Train)</c>.
/// </summary>
public sealed class MnistSplit
{
    /// <summary>The split file's name inside the MNIST folder.</summary>
    public const string FileName = "split.txt";
    /// <summary>The seed of the repository's standard split.</summary>
    public const int DefaultSeed = 20261123;
    /// <summary>The standard test fraction (20% of each digit).</summary>
    public const double DefaultTestFraction = 0.2;

    /// <summary>A split of the given relative paths (lists copied), recording the seed and fraction that made it.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="train"/> or <paramref name="test"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="testFraction"/> is outside (0, 1).</exception>
    public MnistSplit(IReadOnlyList<string> train, IReadOnlyList<string> test, int seed, double testFraction)
    {
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(test);
        CheckFraction(testFraction);
        Train = [.. train];
        Test = [.. test];
        Seed = seed;
        TestFraction = testFraction;
    }

    /// <summary>Image paths relative to the root, e.g. "3/00012.png".</summary>
    public IReadOnlyList<string> Train { get; }
    /// <summary>Test image paths relative to the root.</summary>
    public IReadOnlyList<string> Test { get; }
    /// <summary>The shuffling seed the split was drawn with.</summary>
    public int Seed { get; }
    /// <summary>The fraction of images held out for test, in (0, 1).</summary>
    public double TestFraction { get; }

    /// <summary>The relative path of image <paramref name="index"/> of class <paramref name="label"/>.</summary>
    public static string RelativePath(int label, int index) => string.Create(CultureInfo.InvariantCulture, $"{label}/{index:D5}.png");

    /// <summary>
    /// How many images of each class go to test: the total is round(N·fraction) (N = all images), shared
    /// out in proportion to the class sizes by largest remainder (Hamilton), ties to the lower class index,
    /// so each class gets ⌊quota⌋ or ⌈quota⌉ and the totals are exact.
    /// </summary>
    public static int[] TestCounts(IReadOnlyList<int> countPerClass, double testFraction)
    {
        ArgumentNullException.ThrowIfNull(countPerClass);
        CheckFraction(testFraction);
        long total = 0;
        foreach (int n in countPerClass)
        {
            if (n < 0) throw new ArgumentException($"Class sizes must be >= 0; got [{string.Join(", ", countPerClass)}].", nameof(countPerClass));
            total += n;
        }
        var counts = new int[countPerClass.Count];
        if (total == 0) return counts;
        long testTotal = (long)Math.Round(total * testFraction, MidpointRounding.AwayFromZero);
        // quota_c = n_c · testTotal / total, kept as an exact integer quotient and remainder.
        var remainders = new long[counts.Length];
        long assigned = 0;
        for (int c = 0; c < counts.Length; c++)
        {
            long q = Math.DivRem(countPerClass[c] * testTotal, total, out remainders[c]);
            counts[c] = (int)q;
            assigned += q;
        }
        var order = Enumerable.Range(0, counts.Length).OrderByDescending(c => remainders[c]).ThenBy(c => c).ToArray();
        for (int k = 0; k < testTotal - assigned; k++) counts[order[k]]++;
        return counts;
    }

    /// <summary>
    /// A stratified split of classes with <paramref name="countPerClass"/> images each: per class, a
    /// Fisher–Yates shuffle drawn from one <c>new Random(seed)</c> (classes in order) picks the
    /// <see cref="TestCounts"/> test images. Lists are in class, then index order.
    /// </summary>
    public static MnistSplit Create(IReadOnlyList<int> countPerClass, int seed = DefaultSeed, double testFraction = DefaultTestFraction)
    {
        int[] testCounts = TestCounts(countPerClass, testFraction);
        var rng = new Random(seed);
        var train = new List<string>();
        var test = new List<string>();
        for (int c = 0; c < countPerClass.Count; c++)
        {
            int n = countPerClass[c];
            var perm = new int[n];
            for (int i = 0; i < n; i++) perm[i] = i;
            for (int i = n - 1; i > 0; i--)
            {
                int j = rng.Next(i + 1);
                (perm[i], perm[j]) = (perm[j], perm[i]);
            }
            var isTest = new bool[n];
            for (int k = 0; k < testCounts[c]; k++) isTest[perm[k]] = true;
            for (int i = 0; i < n; i++) (isTest[i] ? test : train).Add(RelativePath(c, i));
        }
        return new MnistSplit(train, test, seed, testFraction);
    }

    /// <summary>Writes <c>root/split.txt</c> atomically (temporary file, then a move over the old one).</summary>
    public void Save(string root)
    {
        ArgumentException.ThrowIfNullOrEmpty(root);
        Directory.CreateDirectory(root);
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"# MNIST split: seed={Seed} test-fraction={TestFraction:R} train={Train.Count} test={Test.Count}\n");
        // One list in path order, so a diff of two split files reads naturally.
        foreach (var (part, path) in Train.Select(p => ("train", p)).Concat(Test.Select(p => ("test", p))).OrderBy(e => e.p, StringComparer.Ordinal))
            sb.Append(part).Append(' ').Append(path).Append('\n');
        AtomicFile.Write(Path.Combine(root, FileName), new UTF8Encoding(false).GetBytes(sb.ToString()));
    }

    /// <summary>Reads <c>root/split.txt</c>.</summary>
    /// <exception cref="FileNotFoundException">No split file (run scripts/fetch-mnist.sh).</exception>
    /// <exception cref="InvalidDataException">A line that is not "train|test &lt;path&gt;" or a bad header (the message names the file and line).</exception>
    public static MnistSplit Load(string root)
    {
        ArgumentException.ThrowIfNullOrEmpty(root);
        string path = Path.Combine(root, FileName);
        if (!File.Exists(path))
            throw new FileNotFoundException($"MNIST split file not found: '{path}'. Run scripts/fetch-mnist.sh (or `mlconv prepare-mnist`) first.", path);
        var train = new List<string>();
        var test = new List<string>();
        int? seed = null;
        double? fraction = null;
        int lineNumber = 0;
        foreach (string line in File.ReadLines(path))
        {
            lineNumber++;
            if (line.Length == 0) continue;
            if (line[0] == '#')
            {
                foreach (string token in line[1..].Split(' ', StringSplitOptions.RemoveEmptyEntries))
                {
                    if (token.StartsWith("seed=", StringComparison.Ordinal) && int.TryParse(token[5..], NumberStyles.Integer, CultureInfo.InvariantCulture, out int s)) seed = s;
                    if (token.StartsWith("test-fraction=", StringComparison.Ordinal) && double.TryParse(token[14..], NumberStyles.Float, CultureInfo.InvariantCulture, out double f)) fraction = f;
                }
                continue;
            }
            int space = line.IndexOf(' ');
            string part = space > 0 ? line[..space] : line, file = space > 0 ? line[(space + 1)..].Trim() : "";
            if (file.Length == 0 || (part != "train" && part != "test"))
                throw new InvalidDataException($"'{path}' line {lineNumber}: expected \"train <class>/<file>.png\" or \"test <class>/<file>.png\"; got \"{line}\".");
            (part == "train" ? train : test).Add(file);
        }
        if (seed is null || fraction is null)
            throw new InvalidDataException($"'{path}' has no header line \"# MNIST split: seed=<int> test-fraction=<number> ...\".");
        if (fraction is not (> 0 and < 1))
            throw new InvalidDataException($"'{path}': test-fraction={fraction} is outside (0, 1).");
        return new MnistSplit(train, test, seed.Value, fraction.Value);
    }

    private static void CheckFraction(double testFraction)
    {
        if (!(testFraction > 0 && testFraction < 1))
            throw new ArgumentOutOfRangeException(nameof(testFraction), testFraction, "The test fraction must be in (0, 1).");
    }
}
