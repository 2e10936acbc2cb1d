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

    /// <summary>The pixels, [N, C, H, W], 0..1.</summary>
    public Tensor Images { get; }
    /// <summary>The class index of each image, in [0, <see cref="NumClasses"/>).</summary>
    public int[] Labels { get; }
    /// <summary>The class names, indexed by label.</summary>
    public IReadOnlyList<string> ClassNames { get; }

    /// <summary>Images N.</summary>
    public int Count => Images.N;
    /// <summary>Channels C (1 gray, 3 RGB).</summary>
    public int Channels => Images.C;
    /// <summary>Image height H in pixels.</summary>
    public int Height => Images.H;
    /// <summary>Image width W in pixels.</summary>
    public int Width => Images.W;
    /// <summary>The number of classes (of class names, not only those present).</summary>
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
    /// Loads the images of an <see cref="ImageFolder"/> (<c>root/&lt;class&gt;/&lt;image&gt;</c>, PNG, JPEG or BMP in any
    /// case of extension) at their own size: classes are the subfolders in ordinal order. <paramref name="files"/>, when
    /// given, are paths relative to <paramref name="root"/> ("3/00012.png") loaded in that order; otherwise every image of
    /// every class folder, classes in order and files in ordinal name order. All images must have one size. Colour is
    /// converted to <paramref name="channels"/>: RGB to gray by luma (0.299 R + 0.587 G + 0.114 B), gray replicated to
    /// RGB; alpha is dropped. <see cref="ImageFolder"/> also resizes and reports what it skipped.
    /// </summary>
    /// <exception cref="DirectoryNotFoundException"><paramref name="root"/> does not exist.</exception>
    /// <exception cref="InvalidDataException">No class folders, a class folder without images, an image whose size differs from the first one's, or an undecodable file.</exception>
    public static ImageDataset LoadFolder(string root, int channels = 1, IEnumerable<string>? files = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(root);
        if (channels is not (1 or 3))
            throw new ArgumentOutOfRangeException(nameof(channels), channels, "channels must be 1 (gray) or 3 (RGB).");
        var folder = ImageFolder.Scan(root);
        if (files is not null) folder = folder.Select(files, nameof(files));
        if (folder.Count == 0) throw new InvalidDataException($"No images of '{root}' were selected.");
        var first = ImageDecoder.ReadHeader(Path.Combine(root, folder.Files[0]));
        return folder.Load(channels, first.Height, first.Width, resize: false);
    }
}
