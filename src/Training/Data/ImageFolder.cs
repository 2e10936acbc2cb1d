using MLConv.Training.Tensors;

namespace MLConv.Training.Data;

/// <summary>A file of an image folder that is not read as an image, and why.</summary>
public sealed record SkippedFile(string RelativePath, string Reason);

/// <summary>
/// A folder of labelled images laid out as <c>root/&lt;class&gt;/&lt;image&gt;</c>: the classes are the subfolders of the
/// root (hidden ones excluded) in ordinal order, an image's label its folder's index in that list. Images are the PNG,
/// JPEG and BMP files of each class folder (<see cref="ImageDecoder.Extensions"/>, in any case), in ordinal name order;
/// everything else is listed in <see cref="Skipped"/> with the reason. <see cref="Load"/> decodes them into an
/// <see cref="ImageDataset"/> of one size and channel count.
/// </summary>
public sealed class ImageFolder
{
    private readonly string[] _files;
    private readonly int[] _labels;

    private ImageFolder(string root, string[] classNames, string[] files, int[] labels, SkippedFile[] skipped)
    {
        (Root, ClassNames, _files, _labels, Skipped) = (root, classNames, files, labels, skipped);
    }

    /// <summary>The folder scanned, as given to <see cref="Scan"/>.</summary>
    public string Root { get; }
    /// <summary>The class folder names in ordinal order; a label is an index into this list.</summary>
    public IReadOnlyList<string> ClassNames { get; }
    /// <summary>The images, as paths relative to <see cref="Root"/> with '/' separators ("cat/001.jpg").</summary>
    public IReadOnlyList<string> Files => _files;
    /// <summary>The label of each of <see cref="Files"/>.</summary>
    public IReadOnlyList<int> Labels => _labels;
    /// <summary>Files in the class folders that are not read as images, with the reason.</summary>
    public IReadOnlyList<SkippedFile> Skipped { get; }
    /// <summary>The number of images.</summary>
    public int Count => _files.Length;

    /// <summary>How many images each class has, indexed like <see cref="ClassNames"/>.</summary>
    public int[] CountPerClass()
    {
        var counts = new int[ClassNames.Count];
        foreach (int l in _labels) counts[l]++;
        return counts;
    }

    /// <summary>Lists the classes and images under <paramref name="root"/>; files at the root itself (a split file) are ignored.</summary>
    /// <exception cref="DirectoryNotFoundException"><paramref name="root"/> does not exist.</exception>
    /// <exception cref="InvalidDataException">No class folders, or a class folder without images (named, with what was skipped in it).</exception>
    public static ImageFolder Scan(string root)
    {
        ArgumentException.ThrowIfNullOrEmpty(root);
        if (!Directory.Exists(root)) throw new DirectoryNotFoundException($"Image folder not found: '{root}'.");
        string[] classNames = [.. Directory.EnumerateDirectories(root)
            .Select(Path.GetFileName).OfType<string>()
            .Where(n => !n.StartsWith('.'))
            .Order(StringComparer.Ordinal)];
        if (classNames.Length == 0)
            throw new InvalidDataException($"'{root}' has no class subfolders; expected the layout <root>/<class>/<image> (PNG, JPEG or BMP).");

        var files = new List<string>();
        var labels = new List<int>();
        var skipped = new List<SkippedFile>();
        for (int c = 0; c < classNames.Length; c++)
        {
            string folder = Path.Combine(root, classNames[c]);
            int before = files.Count, skippedBefore = skipped.Count;
            foreach (string dir in Directory.EnumerateDirectories(folder).Order(StringComparer.Ordinal))
                skipped.Add(new SkippedFile($"{classNames[c]}/{Path.GetFileName(dir)}/", "a folder inside a class folder (classes are one level deep)"));
            foreach (string path in Directory.EnumerateFiles(folder).Order(StringComparer.Ordinal))
            {
                string name = Path.GetFileName(path), relative = $"{classNames[c]}/{name}";
                if (name.StartsWith('.')) skipped.Add(new SkippedFile(relative, "hidden file"));
                else if (!ImageDecoder.IsSupported(name))
                    skipped.Add(new SkippedFile(relative, $"not a PNG, JPEG or BMP file (extension '{Path.GetExtension(name)}')"));
                else
                {
                    files.Add(relative);
                    labels.Add(c);
                }
            }
            if (files.Count == before)
            {
                string what = skipped.Count == skippedBefore ? "it is empty"
                    : $"skipped: {string.Join("; ", skipped.Skip(skippedBefore).Take(3).Select(s => $"{s.RelativePath} ({s.Reason})"))}{(skipped.Count - skippedBefore > 3 ? "; ..." : "")}";
                throw new InvalidDataException($"Class folder '{folder}' holds no PNG, JPEG or BMP images ({what}). Remove it or add images.");
            }
        }
        return new ImageFolder(root, classNames, [.. files], [.. labels], [.. skipped]);
    }

    /// <summary>
    /// The same folder restricted to <paramref name="relativePaths"/> ("cat/001.jpg", '/' or '\' separators), in that order:
    /// the classes stay all of the folder's.
    /// </summary>
    /// <exception cref="ArgumentException">A path outside the class folders, or a file <see cref="Scan"/> skipped.</exception>
    /// <exception cref="FileNotFoundException">A path in a class folder that does not exist.</exception>
    public ImageFolder Select(IEnumerable<string> relativePaths) => Select(relativePaths, nameof(relativePaths));

    internal ImageFolder Select(IEnumerable<string> relativePaths, string paramName)
    {
        ArgumentNullException.ThrowIfNull(relativePaths, paramName);
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < _files.Length; i++) index[_files[i]] = i;
        var classes = new HashSet<string>(ClassNames, StringComparer.Ordinal);
        var files = new List<string>();
        var labels = new List<int>();
        foreach (string path in relativePaths)
        {
            string normalized = path.Replace('\\', '/');
            if (index.TryGetValue(normalized, out int i))
            {
                files.Add(normalized);
                labels.Add(_labels[i]);
                continue;
            }
            int slash = normalized.IndexOf('/');
            if (slash <= 0 || !classes.Contains(normalized[..slash]))
                throw new ArgumentException($"'{path}' is not in a class folder of '{Root}' (expected <class>/<file>; classes: {string.Join(", ", ClassNames)}).", paramName);
            string full = Path.Combine(Root, normalized);
            if (!File.Exists(full)) throw new FileNotFoundException($"Image file not found: '{full}'.", full);
            var skip = Skipped.FirstOrDefault(s => s.RelativePath == normalized);
            throw new ArgumentException($"'{path}' is not an image of '{Root}': {skip?.Reason ?? "not listed"}.", paramName);
        }
        return new ImageFolder(Root, [.. ClassNames], [.. files], [.. labels], [.. Skipped]);
    }

    /// <summary>The header (size, channels) of every image, in <see cref="Files"/> order.</summary>
    /// <exception cref="InvalidDataException">An unreadable header, or one claiming more pixels than its file can hold (the file is named).</exception>
    public ImageHeader[] ReadHeaders()
    {
        var headers = new ImageHeader[_files.Length];
        ForEachImage(i => headers[i] = ImageDecoder.ReadHeader(FullPath(i)));
        return headers;
    }

    /// <summary>
    /// Decodes every image into [N, <paramref name="channels"/>, <paramref name="height"/>, <paramref name="width"/>] floats in
    /// 0..1 (see <see cref="ImagePixels.ToPlanar"/>), resized when <paramref name="resize"/> is true; otherwise an image of
    /// another size is an error naming it.
    /// </summary>
    /// <exception cref="InvalidDataException">An undecodable image, or (without resizing) one of another size; the first in file order is named.</exception>
    public ImageDataset Load(int channels, int height, int width, bool resize = true, CancellationToken cancellationToken = default)
    {
        if (channels is not (1 or 3)) throw new ArgumentOutOfRangeException(nameof(channels), channels, "channels must be 1 (gray) or 3 (RGB).");
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        if (_files.Length == 0) throw new InvalidDataException($"No images of '{Root}' were selected.");
        int size = checked(channels * height * width);
        var data = new float[checked((long)_files.Length * size)];
        ForEachImage(i =>
        {
            cancellationToken.ThrowIfCancellationRequested();
            var image = ImageDecoder.Read(FullPath(i));
            if (!resize && (image.Width != width || image.Height != height))
                throw new InvalidDataException($"'{FullPath(i)}' is {image.Width}x{image.Height}; the dataset's images are {width}x{height} (the size of '{FullPath(0)}').");
            ImagePixels.ToPlanar(image, channels, height, width, data.AsSpan(checked((int)((long)i * size)), size));
        });
        return new ImageDataset(new Tensor([_files.Length, channels, height, width], data), [.. _labels], ClassNames);
    }

    private string FullPath(int i) => Path.Combine(Root, _files[i]);

    /// <summary>Runs <paramref name="action"/> for every image in parallel; the first failure in file order is rethrown.</summary>
    private void ForEachImage(Action<int> action)
    {
        var errors = new Exception?[_files.Length];
        Parallel.For(0, _files.Length, i =>
        {
            try { action(i); }
            catch (Exception e) when (e is InvalidDataException or NotSupportedException or IOException or UnauthorizedAccessException or OperationCanceledException)
            {
                errors[i] = e;
            }
        });
        foreach (var e in errors)
            if (e is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e);
    }
}
