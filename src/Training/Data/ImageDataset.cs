using MLConv.Training.Tensors;

namespace MLConv.Training.Data;

/// <summary>
/// Labelled images held in memory: <see cref="Images"/> is [N, C, H, W] float32 with pixels scaled
/// to 0..1 (byte / 255), <see cref="Labels"/>[i] the class index of image i into <see cref="ClassNames"/>.
/// </summary>
public sealed class ImageDataset
{
    /// <summary>
    /// Wraps existing data (not copied). <paramref name="images"/> must be [N, C, H, W] with N = labels.Length,
    /// and every label in [0, classNames.Count).
    /// </summary>
    public ImageDataset(Tensor images, int[] labels, IReadOnlyList<string> classNames)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(classNames);
        if (images.Rank != 4)
            throw new ArgumentException($"images must be [N, C, H, W]; got [{images.ShapeString}].", nameof(images));
        if (images.N != labels.Length)
            throw new ArgumentException($"labels has {labels.Length} entries; images holds {images.N} images.", nameof(labels));
        if (classNames.Count == 0)
            throw new ArgumentException("classNames is empty; a dataset needs at least one class.", nameof(classNames));
        for (int i = 0; i < labels.Length; i++)
            if ((uint)labels[i] >= (uint)classNames.Count)
                throw new ArgumentException($"labels[{i}] = {labels[i]} is outside [0, {classNames.Count}) (there are {classNames.Count} class names).", nameof(labels));
        Images = images;
        Labels = labels;
        ClassNames = [.. classNames];
    }

    public Tensor Images { get; }
    public int[] Labels { get; }
    public IReadOnlyList<string> ClassNames { get; }

    public int Count => Images.N;
    public int Channels => Images.C;
    public int Height => Images.H;
    public int Width => Images.W;
    public int NumClasses => ClassNames.Count;

    /// <summary>How many images each class has, indexed like <see cref="ClassNames"/>.</summary>
    public int[] CountPerClass()
    {
        var counts = new int[ClassNames.Count];
        foreach (int l in Labels) counts[l]++;
        return counts;
    }

    /// <summary>A new dataset holding copies of the images at <paramref name="indices"/>, in that order.</summary>
    public ImageDataset Subset(int[] indices)
    {
        ArgumentNullException.ThrowIfNull(indices);
        CheckIndices(indices, nameof(indices));
        var images = new Tensor(indices.Length, Channels, Height, Width);
        var labels = new int[indices.Length];
        CopyImages(indices, images.Data, labels);
        return new ImageDataset(images, labels, ClassNames);
    }

    /// <summary>
    /// Copies the images at <paramref name="indices"/> into <paramref name="destination"/>
    /// ([indices.Length, C, H, W], e.g. from <see cref="Tensor.Reuse"/>) and their labels into the first
    /// indices.Length entries of <paramref name="labels"/>.
    /// </summary>
    public void GetBatch(ReadOnlySpan<int> indices, Tensor destination, Span<int> labels)
    {
        ArgumentNullException.ThrowIfNull(destination);
        if (!destination.ShapeEquals([indices.Length, Channels, Height, Width]))
            throw new ArgumentException($"destination is [{destination.ShapeString}]; a batch of {indices.Length} needs [{indices.Length}, {Channels}, {Height}, {Width}].", nameof(destination));
        if (labels.Length < indices.Length)
            throw new ArgumentException($"labels has room for {labels.Length} entries; the batch has {indices.Length}.", nameof(labels));
        CheckIndices(indices, nameof(indices));
        CopyImages(indices, destination.Data, labels);
    }

    private void CheckIndices(ReadOnlySpan<int> indices, string paramName)
    {
        for (int i = 0; i < indices.Length; i++)
            if ((uint)indices[i] >= (uint)Count)
                throw new ArgumentOutOfRangeException(paramName, $"{paramName}[{i}] = {indices[i]} is outside [0, {Count}).");
    }

    private void CopyImages(ReadOnlySpan<int> indices, float[] destination, Span<int> labels)
    {
        Rows.Gather<float>(Images.Span, Channels * Height * Width, indices, destination);
        Rows.Gather<int>(Labels, 1, indices, labels);
    }

    /// <summary>
    /// Loads PNGs laid out as <c>root/&lt;class&gt;/&lt;file&gt;.png</c>. The classes are the subfolders of
    /// <paramref name="root"/> (hidden ones excluded) in ordinal order; an image's label is its folder's index
    /// in that list. <paramref name="files"/>, when given, are paths relative to <paramref name="root"/>
    /// ("3/00012.png") loaded in that order; otherwise every *.png of every class folder is loaded, classes
    /// in order and files in ordinal name order. All images must have one size. Colour is converted to
    /// <paramref name="channels"/>: RGB to gray by luma (0.299 R + 0.587 G + 0.114 B), gray replicated to
    /// RGB; alpha is dropped.
    /// </summary>
    /// <exception cref="DirectoryNotFoundException"><paramref name="root"/> does not exist.</exception>
    /// <exception cref="InvalidDataException">No images, or an image whose size differs from the first one's, or an undecodable file.</exception>
    public static ImageDataset LoadFolder(string root, int channels = 1, IEnumerable<string>? files = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(root);
        if (channels is not (1 or 3))
            throw new ArgumentOutOfRangeException(nameof(channels), channels, "channels must be 1 (gray) or 3 (RGB).");
        if (!Directory.Exists(root))
            throw new DirectoryNotFoundException($"Image folder not found: '{root}'.");

        string[] classNames = [.. Directory.EnumerateDirectories(root)
            .Select(Path.GetFileName)
            .OfType<string>()
            .Where(n => !n.StartsWith('.'))
            .Order(StringComparer.Ordinal)];
        if (classNames.Length == 0)
            throw new InvalidDataException($"'{root}' has no class subfolders; expected the layout <root>/<class>/<image>.png.");
        var classIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int c = 0; c < classNames.Length; c++) classIndex[classNames[c]] = c;

        var paths = new List<string>();
        var labels = new List<int>();
        if (files is null)
        {
            for (int c = 0; c < classNames.Length; c++)
                foreach (string f in Directory.EnumerateFiles(Path.Combine(root, classNames[c]), "*.png").Order(StringComparer.Ordinal))
                {
                    paths.Add(f);
                    labels.Add(c);
                }
        }
        else
        {
            foreach (string relative in files)
            {
                string normalized = relative.Replace('\\', '/');
                int slash = normalized.IndexOf('/');
                string folder = slash > 0 ? normalized[..slash] : "";
                if (!classIndex.TryGetValue(folder, out int c))
                    throw new ArgumentException($"'{relative}' is not in a class folder of '{root}' (expected <class>/<file>; classes: {string.Join(", ", classNames)}).", nameof(files));
                paths.Add(Path.Combine(root, normalized));
                labels.Add(c);
            }
        }
        if (paths.Count == 0)
            throw new InvalidDataException($"'{root}' holds no images: its class folders ({string.Join(", ", classNames)}) contain no *.png files.");

        var first = Png.Read(paths[0]);
        int height = first.Height, width = first.Width, size = channels * height * width;
        var data = new float[(long)paths.Count * size];
        var errors = new Exception?[paths.Count];
        Parallel.For(0, paths.Count, i =>
        {
            try
            {
                var image = i == 0 ? first : Png.Read(paths[i]);
                if (image.Width != width || image.Height != height)
                    throw new InvalidDataException($"'{paths[i]}' is {image.Width}x{image.Height}; the dataset's images are {width}x{height} (the size of '{paths[0]}').");
                ToPlanar(image, channels, data.AsSpan(i * size, size));
            }
            catch (Exception e) when (e is InvalidDataException or NotSupportedException or IOException or UnauthorizedAccessException)
            {
                errors[i] = e;
            }
        });
        // The first failing file in load order, whatever thread found it.
        foreach (var e in errors)
            if (e is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e);

        return new ImageDataset(new Tensor([paths.Count, channels, height, width], data), [.. labels], classNames);
    }

    /// <summary>Interleaved 8-bit samples → planar CHW floats in 0..1 with <paramref name="channels"/> channels.</summary>
    private static void ToPlanar(PngImage image, int channels, Span<float> dst)
    {
        const float Scale = 1f / 255f;
        int plane = image.Width * image.Height, src = image.Channels;
        var p = image.Pixels;
        bool color = src >= 3;
        if (channels == 1)
        {
            for (int i = 0; i < plane; i++)
                dst[i] = color
                    ? (0.299f * p[i * src] + 0.587f * p[i * src + 1] + 0.114f * p[i * src + 2]) * Scale
                    : p[i * src] * Scale;
            return;
        }
        for (int c = 0; c < 3; c++)
        {
            var d = dst.Slice(c * plane, plane);
            int offset = color ? c : 0;
            for (int i = 0; i < plane; i++) d[i] = p[i * src + offset] * Scale;
        }
    }
}
