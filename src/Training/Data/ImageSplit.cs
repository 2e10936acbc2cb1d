using System.Globalization;
using System.Text;

namespace MLConv.Training.Data;

/// <summary>
/// Which images of an <see cref="ImageFolder"/> train and which test, as paths relative to its root. Stored as text:
/// one line per image, <c>train cat/001.jpg</c> or <c>test cat/002.jpg</c>; lines starting with '#' and blank lines are
/// ignored (the MNIST tooling's <c>split.txt</c> reads as one).
/// </summary>
public sealed record ImageSplit(IReadOnlyList<string> Train, IReadOnlyList<string> Test)
{
    /// <summary>Reads a split file.</summary>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="InvalidDataException">A line that is not "train|test &lt;path&gt;" (the file and line are named), or no train line.</exception>
    public static ImageSplit Read(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"Split file not found: '{path}'.", path);
        var train = new List<string>();
        var test = new List<string>();
        int lineNumber = 0;
        foreach (string raw in File.ReadLines(path))
        {
            lineNumber++;
            string line = raw.Trim();
            if (line.Length == 0 || line[0] == '#') continue;
            int space = line.IndexOf(' ');
            string part = space > 0 ? line[..space] : line, file = space > 0 ? line[(space + 1)..].Trim() : "";
            if (file.Length == 0 || (part != "train" && part != "test"))
                throw new InvalidDataException($"'{path}' line {lineNumber}: expected \"train <class>/<file>\" or \"test <class>/<file>\"; got \"{raw}\".");
            (part == "train" ? train : test).Add(file);
        }
        if (train.Count == 0) throw new InvalidDataException($"'{path}' lists no training images (lines \"train <class>/<file>\").");
        return new ImageSplit(train, test);
    }

    /// <summary>
    /// A stratified split: per class, round(n·<paramref name="testFraction"/>) images in total shared out by
    /// <see cref="MnistSplit.TestCounts"/>, each class's test images drawn by a seeded shuffle; lists in folder order.
    /// </summary>
    public static ImageSplit Stratified(ImageFolder folder, double testFraction, int seed)
    {
        ArgumentNullException.ThrowIfNull(folder);
        int[] testCounts = MnistSplit.TestCounts(folder.CountPerClass(), testFraction);
        var rng = new Random(seed);
        var isTest = new bool[folder.Count];
        for (int c = 0; c < folder.ClassNames.Count; c++)
        {
            int[] members = [.. Enumerable.Range(0, folder.Count).Where(i => folder.Labels[i] == c)];
            rng.Shuffle(members);
            foreach (int i in members.Take(testCounts[c])) isTest[i] = true;
        }
        return new ImageSplit([.. folder.Files.Where((_, i) => !isTest[i])], [.. folder.Files.Where((_, i) => isTest[i])]);
    }

    /// <summary>Writes the split atomically, with a '#' line saying where it came from.</summary>
    public void Write(string path, string? comment = null)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"# {comment ?? "image split"}: train={Train.Count} test={Test.Count}\n");
        foreach (string f in Train) sb.Append("train ").Append(f).Append('\n');
        foreach (string f in Test) sb.Append("test ").Append(f).Append('\n');
        AtomicFile.Write(path, new UTF8Encoding(false).GetBytes(sb.ToString()));
    }
}
