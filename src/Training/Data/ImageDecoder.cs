using System.Buffers.Binary;
using StbImageSharp;

namespace MLConv.Training.Data;

/// <summary>What an image file's header says: its size and how many channels it stores (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA).</summary>
public readonly record struct ImageHeader(int Width, int Height, int Channels);

/// <summary>
/// Reads PNG, JPEG and BMP files into 8-bit interleaved pixels (<see cref="PngImage"/>: gray, gray+alpha, RGB or RGBA).
/// PNG goes through MLConv's own <see cref="Png"/> codec (every chunk's CRC checked, a truncated file refused) and, for
/// what it does not read (interlacing, bit depths other than 8), through StbImageSharp, which also reads JPEG and BMP.
/// The header is read first and the decoded size bounded by the file's size (<see cref="MaxPixelsPerByte"/>), so a
/// small file claiming a huge image is refused before anything large is allocated.
/// </summary>
public static class ImageDecoder
{
    /// <summary>The file extensions read (matched case-insensitively).</summary>
    public static readonly IReadOnlyList<string> Extensions = [".png", ".jpg", ".jpeg", ".bmp"];

    /// <summary>
    /// Pixels a file may decode to per byte of its size. DEFLATE expands at most 1032:1, a baseline JPEG block of 64
    /// pixels costs at least 2 bits per component, an RLE BMP at most 255 pixels per 2 bytes; 1100 covers them all.
    /// </summary>
    public const long MaxPixelsPerByte = 1100;

    /// <summary>Any file may decode to this many pixels whatever its size (a progressive JPEG of one colour compresses further).</summary>
    public const long MinPixelBudget = 1L << 22;

    /// <summary>True when <paramref name="path"/> ends in one of <see cref="Extensions"/>, in any case.</summary>
    public static bool IsSupported(string path) =>
        Extensions.Contains(Path.GetExtension(path), StringComparer.OrdinalIgnoreCase);

    /// <summary>The size and channel count in the header of the image at <paramref name="path"/>, checked against the file's size.</summary>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="InvalidDataException">Not a readable PNG, JPEG or BMP header, or a size the file cannot hold.</exception>
    public static ImageHeader ReadHeader(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"Image file not found: '{path}'.", path);
        using var stream = File.OpenRead(path);
        return ReadHeader(stream, stream.Length, $"'{path}'");
    }

    /// <summary>Decodes the image at <paramref name="path"/> (see the class remarks).</summary>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="InvalidDataException">Not a PNG, JPEG or BMP, truncated, corrupt, or claiming more pixels than its size allows (the message names the file).</exception>
    public static PngImage Read(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"Image file not found: '{path}'.", path);
        return Decode(File.ReadAllBytes(path), $"'{path}'");
    }

    /// <summary>Decodes an image held in memory; <paramref name="name"/> names it in messages.</summary>
    public static PngImage Decode(byte[] bytes, string name)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        using (var header = new MemoryStream(bytes, writable: false)) ReadHeader(header, bytes.Length, name);
        if (bytes.AsSpan().StartsWith(PngSignature))
        {
            try { return Png.Decode(bytes, name); }
            catch (NotSupportedException) { } // interlaced or not 8-bit: StbImageSharp reads those
        }
        try
        {
            var image = ImageResult.FromMemory(bytes, ColorComponents.Default);
            return new PngImage(image.Width, image.Height, (int)image.Comp, image.Data);
        }
        catch (Exception e) when (e is InvalidOperationException or IndexOutOfRangeException or ArgumentException or NullReferenceException)
        {
            throw new InvalidDataException($"{name} could not be decoded as PNG, JPEG or BMP: {e.Message}", e);
        }
    }

    private static ReadOnlySpan<byte> PngSignature => [137, 80, 78, 71, 13, 10, 26, 10];

    private static ImageHeader ReadHeader(Stream stream, long fileBytes, string name)
    {
        Span<byte> head = stackalloc byte[26];
        int got = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        stream.Position = 0;
        // A PNG's size is read from IHDR directly: StbImageSharp refuses a large one without saying its size.
        if (got == head.Length && head.StartsWith(PngSignature) && head[12..16].SequenceEqual("IHDR"u8))
            return Bounded(BinaryPrimitives.ReadInt32BigEndian(head[16..]), BinaryPrimitives.ReadInt32BigEndian(head[20..]),
                head[25] switch { 0 => 1, 4 => 2, 6 => 4, _ => 3 }, fileBytes, name);
        ImageInfo? info;
        try { info = ImageInfo.FromStream(stream); }
        catch (Exception e) when (e is InvalidOperationException or IndexOutOfRangeException or ArgumentException or EndOfStreamException)
        {
            throw new InvalidDataException($"{name} is not a readable PNG, JPEG or BMP image: {e.Message}", e);
        }
        if (info is not { } i)
            throw new InvalidDataException($"{name} is not a readable PNG, JPEG or BMP image (no valid header).");
        return Bounded(i.Width, i.Height, (int)i.ColorComponents, fileBytes, name);
    }

    private static ImageHeader Bounded(int width, int height, int channels, long fileBytes, string name)
    {
        if (width < 1 || height < 1)
            throw new InvalidDataException($"{name} claims a {width}x{height} image; both sides must be >= 1.");
        long pixels = (long)width * height, budget = Math.Max(MinPixelBudget, fileBytes * MaxPixelsPerByte);
        if (pixels > budget)
            throw new InvalidDataException($"{name} claims {width}x{height} pixels, more than a file of {fileBytes:N0} bytes can hold " +
                $"(at most {budget:N0} pixels); it is corrupt or crafted.");
        return new ImageHeader(width, height, channels);
    }
}
