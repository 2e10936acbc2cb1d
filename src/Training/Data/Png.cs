using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace MLConv.Training.Data;

/// <summary>A decoded image: 8-bit samples, rows top to bottom, channels interleaved (gray, gray+alpha, RGB or RGBA).</summary>
public readonly record struct PngImage(int Width, int Height, int Channels, byte[] Pixels);

/// <summary>
/// A minimal PNG codec (ISO/IEC 15948) with no dependency beyond <see cref="ZLibStream"/>.
/// Writes 8-bit gray, gray+alpha, RGB and RGBA. Reads the same plus 8-bit palette images
/// (expanded to RGB, or RGBA when a tRNS chunk is present); non-interlaced only, all five row
/// filters, every chunk's CRC checked.
/// </summary>
public static class Png
{
    private static ReadOnlySpan<byte> Signature => [137, 80, 78, 71, 13, 10, 26, 10];

    private const byte ColorGray = 0, ColorRgb = 2, ColorPalette = 3, ColorGrayAlpha = 4, ColorRgba = 6;

    /// <summary>Decodes the PNG file at <paramref name="path"/>.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is not a PNG, is truncated or corrupt (the message names the path and the fault).</exception>
    /// <exception cref="NotSupportedException">The PNG is interlaced, or has a bit depth other than 8.</exception>
    public static PngImage Read(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"PNG file not found: '{path}'.", path);
        return Decode(File.ReadAllBytes(path), $"'{path}'");
    }

    /// <summary>Decodes a PNG from the current position of <paramref name="stream"/> to its end.</summary>
    public static PngImage Read(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        return Decode(buffer.GetBuffer().AsSpan(0, (int)buffer.Length), "the PNG stream");
    }

    /// <summary>
    /// Writes 8-bit <paramref name="pixels"/> (row-major, channels interleaved; 1 = gray, 2 = gray+alpha,
    /// 3 = RGB, 4 = RGBA) to <paramref name="path"/>. The file is written to a temporary name in the
    /// same folder and then moved over <paramref name="path"/>, so readers never see a partial file.
    /// </summary>
    public static void Write(string path, ReadOnlySpan<byte> pixels, int width, int height, int channels)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        CheckImageArguments(pixels, width, height, channels);

        var copy = pixels.ToArray();
        AtomicFile.Write(path, file => Encode(file, copy, width, height, channels));
    }

    /// <summary>Encodes to <paramref name="output"/>; see <see cref="Write(string, ReadOnlySpan{byte}, int, int, int)"/>.</summary>
    public static void Write(Stream output, ReadOnlySpan<byte> pixels, int width, int height, int channels)
    {
        ArgumentNullException.ThrowIfNull(output);
        CheckImageArguments(pixels, width, height, channels);
        Encode(output, pixels, width, height, channels);
    }

    private static void CheckImageArguments(ReadOnlySpan<byte> pixels, int width, int height, int channels)
    {
        if (width < 1) throw new ArgumentOutOfRangeException(nameof(width), width, "Width must be >= 1.");
        if (height < 1) throw new ArgumentOutOfRangeException(nameof(height), height, "Height must be >= 1.");
        if (channels is < 1 or > 4)
            throw new ArgumentOutOfRangeException(nameof(channels), channels, "Channels must be 1 (gray), 2 (gray+alpha), 3 (RGB) or 4 (RGBA).");
        long expected = (long)width * height * channels;
        if (pixels.Length != expected)
            throw new ArgumentException($"pixels has {pixels.Length} bytes; {width}x{height}x{channels} needs {expected}.", nameof(pixels));
    }

    // ---------------------------------------------------------------- encoder

    private static void Encode(Stream output, ReadOnlySpan<byte> pixels, int width, int height, int channels)
    {
        output.Write(Signature);

        Span<byte> ihdr = stackalloc byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr[4..], height);
        ihdr[8] = 8;
        ihdr[9] = channels switch { 1 => ColorGray, 2 => ColorGrayAlpha, 3 => ColorRgb, _ => ColorRgba };
        ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = 0; // deflate, adaptive filtering, no interlace
        WriteChunk(output, "IHDR", ihdr);

        int stride = width * channels;
        var compressed = new MemoryStream();
        using (var z = new ZLibStream(compressed, CompressionLevel.Optimal, leaveOpen: true))
        {
            var candidate = new byte[1 + stride];
            var best = new byte[1 + stride];
            ReadOnlySpan<byte> zeros = new byte[stride];
            for (int y = 0; y < height; y++)
            {
                var row = pixels.Slice(y * stride, stride);
                var prior = y == 0 ? zeros : pixels.Slice((y - 1) * stride, stride);
                // libpng's heuristic: the filter whose output, read as signed bytes, has the least absolute sum.
                long bestScore = long.MaxValue;
                for (byte f = 0; f <= 4; f++)
                {
                    candidate[0] = f;
                    long score = FilterRow(f, row, prior, channels, candidate.AsSpan(1));
                    if (score < bestScore) { bestScore = score; (best, candidate) = (candidate, best); }
                }
                z.Write(best);
            }
        }
        WriteChunk(output, "IDAT", compressed.GetBuffer().AsSpan(0, (int)compressed.Length));
        WriteChunk(output, "IEND", []);
    }

    private static long FilterRow(byte filter, ReadOnlySpan<byte> row, ReadOnlySpan<byte> prior, int bpp, Span<byte> dst)
    {
        long score = 0;
        for (int i = 0; i < row.Length; i++)
        {
            int a = i >= bpp ? row[i - bpp] : 0, b = prior[i], c = i >= bpp ? prior[i - bpp] : 0;
            int predictor = filter switch { 0 => 0, 1 => a, 2 => b, 3 => (a + b) >> 1, _ => Paeth(a, b, c) };
            byte v = (byte)(row[i] - predictor);
            dst[i] = v;
            score += Math.Abs((int)(sbyte)v);
        }
        return score;
    }

    private static void WriteChunk(Stream output, string type, ReadOnlySpan<byte> data)
    {
        Span<byte> header = stackalloc byte[8];
        BinaryPrimitives.WriteInt32BigEndian(header, data.Length);
        Encoding.ASCII.GetBytes(type, header[4..]);
        output.Write(header);
        output.Write(data);
        uint crc = Crc32.Update(Crc32.Update(Crc32.Initial, header[4..]), data) ^ Crc32.Initial;
        Span<byte> tail = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(tail, crc);
        output.Write(tail);
    }

    // ---------------------------------------------------------------- decoder

    internal static PngImage Decode(ReadOnlySpan<byte> file, string source)
    {
        if (file.Length < Signature.Length || !file[..Signature.Length].SequenceEqual(Signature))
            throw new InvalidDataException($"{Cap(source)} is not a PNG file (the 8-byte PNG signature is missing).");

        int width = 0, height = 0, colorType = 0, channels = 0;
        bool seenHeader = false, seenEnd = false;
        byte[]? palette = null, paletteAlpha = null;
        var idat = new MemoryStream();
        int pos = Signature.Length;
        while (!seenEnd)
        {
            if (file.Length - pos < 12)
                throw new InvalidDataException($"{Cap(source)} is truncated: it ends at byte {file.Length} before the IEND chunk.");
            uint length = BinaryPrimitives.ReadUInt32BigEndian(file[pos..]);
            var typeBytes = file.Slice(pos + 4, 4);
            string type = Encoding.ASCII.GetString(typeBytes);
            if (length > int.MaxValue || file.Length - pos - 12 < length)
                throw new InvalidDataException($"{Cap(source)} is truncated: chunk '{type}' at byte {pos} declares {length} data bytes; only {Math.Max(0, file.Length - pos - 12)} remain.");
            var data = file.Slice(pos + 8, (int)length);
            uint stored = BinaryPrimitives.ReadUInt32BigEndian(file[(pos + 8 + (int)length)..]);
            uint actual = Crc32.Update(Crc32.Update(Crc32.Initial, typeBytes), data) ^ Crc32.Initial;
            if (stored != actual)
                throw new InvalidDataException($"{Cap(source)} is corrupt: CRC mismatch in chunk '{type}' at byte {pos} (stored 0x{stored:X8}, computed 0x{actual:X8}).");
            if (!seenHeader && type != "IHDR")
                throw new InvalidDataException($"{Cap(source)} is corrupt: the first chunk is '{type}', expected 'IHDR'.");

            switch (type)
            {
                case "IHDR":
                    if (seenHeader) throw new InvalidDataException($"{Cap(source)} is corrupt: a second IHDR chunk at byte {pos}.");
                    (width, height, colorType, channels) = ParseHeader(data, source);
                    seenHeader = true;
                    break;
                case "PLTE":
                    if (length % 3 != 0 || length == 0 || length > 768)
                        throw new InvalidDataException($"{Cap(source)} is corrupt: PLTE chunk has {length} bytes (expected 3 to 768, a multiple of 3).");
                    palette = data.ToArray();
                    break;
                case "tRNS":
                    if (colorType == ColorPalette) paletteAlpha = data.ToArray();
                    break; // transparency keys for gray/RGB are ignored: samples are returned as stored
                case "IDAT":
                    idat.Write(data);
                    break;
                case "IEND":
                    seenEnd = true;
                    break;
                default:
                    if (char.IsAsciiLetterUpper(type[0]))
                        throw new NotSupportedException($"{Cap(source)} contains the critical chunk '{type}', which this decoder does not know.");
                    break; // ancillary chunks (text, gamma, ...) are skipped
            }
            pos += 12 + (int)length;
        }

        if (colorType == ColorPalette && palette is null)
            throw new InvalidDataException($"{Cap(source)} is corrupt: a palette image without a PLTE chunk.");
        if (idat.Length == 0)
            throw new InvalidDataException($"{Cap(source)} is corrupt: no IDAT (image data) chunk.");

        int bpp = colorType == ColorPalette ? 1 : channels; // bytes per pixel as stored
        long strideLong = (long)width * bpp;
        long rawLength = (strideLong + 1) * height;
        if (rawLength > int.MaxValue)
            throw new NotSupportedException($"{Cap(source)} is {width}x{height}: too large to decode into one array.");
        int stride = (int)strideLong;
        var raw = new byte[rawLength];
        idat.Position = 0;
        int got;
        try
        {
            using var z = new ZLibStream(idat, CompressionMode.Decompress);
            got = z.ReadAtLeast(raw, raw.Length, throwOnEndOfStream: false);
            if (got == raw.Length) z.ReadByte(); // reaches the end of the zlib stream, so its Adler-32 checksum is verified
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{Cap(source)} is corrupt: its compressed image data cannot be inflated ({e.Message}).", e);
        }
        if (got < raw.Length)
            throw new InvalidDataException($"{Cap(source)} is truncated: the image data inflates to {got} bytes; {width}x{height} needs {raw.Length}.");

        var image = new byte[(long)stride * height];
        Unfilter(raw, image, width, height, bpp, source);

        if (colorType != ColorPalette) return new PngImage(width, height, channels, image);
        return ExpandPalette(image, width, height, palette!, paletteAlpha, source);
    }

    private static (int Width, int Height, int ColorType, int Channels) ParseHeader(ReadOnlySpan<byte> data, string source)
    {
        if (data.Length != 13) throw new InvalidDataException($"{Cap(source)} is corrupt: IHDR has {data.Length} bytes, expected 13.");
        uint w = BinaryPrimitives.ReadUInt32BigEndian(data), h = BinaryPrimitives.ReadUInt32BigEndian(data[4..]);
        byte depth = data[8], colorType = data[9], compression = data[10], filter = data[11], interlace = data[12];
        if (w == 0 || h == 0 || w > int.MaxValue || h > int.MaxValue)
            throw new InvalidDataException($"{Cap(source)} is corrupt: image size {w}x{h}.");
        int channels = colorType switch
        {
            ColorGray => 1, ColorGrayAlpha => 2, ColorRgb => 3, ColorRgba => 4, ColorPalette => 3,
            _ => throw new InvalidDataException($"{Cap(source)} is corrupt: unknown color type {colorType}."),
        };
        if (compression != 0 || filter != 0)
            throw new InvalidDataException($"{Cap(source)} is corrupt: compression method {compression}, filter method {filter} (both must be 0).");
        if (interlace != 0)
            throw new NotSupportedException($"{Cap(source)} is interlaced (Adam7); only non-interlaced PNGs are supported. Re-save it without interlacing.");
        if (depth != 8)
            throw new NotSupportedException($"{Cap(source)} has {depth}-bit samples (color type {colorType}); only 8-bit PNGs are supported.");
        return ((int)w, (int)h, colorType, channels);
    }

    /// <summary>
    /// Reverses the per-row filters: Recon(x) = Filt(x) + predictor(a, b, c), where a is the byte
    /// one pixel to the left, b the byte above, c the byte above-left (0 outside the image).
    /// </summary>
    private static void Unfilter(byte[] raw, byte[] image, int width, int height, int bpp, string source)
    {
        int stride = width * bpp;
        for (int y = 0; y < height; y++)
        {
            int filter = raw[y * (stride + 1)];
            var src = raw.AsSpan(y * (stride + 1) + 1, stride);
            var row = image.AsSpan(y * stride, stride);
            var prior = y == 0 ? default : image.AsSpan((y - 1) * stride, stride);
            switch (filter)
            {
                case 0:
                    src.CopyTo(row);
                    break;
                case 1: // Sub: a
                    for (int i = 0; i < stride; i++) row[i] = (byte)(src[i] + (i >= bpp ? row[i - bpp] : 0));
                    break;
                case 2: // Up: b
                    if (y == 0) src.CopyTo(row);
                    else for (int i = 0; i < stride; i++) row[i] = (byte)(src[i] + prior[i]);
                    break;
                case 3: // Average: floor((a + b) / 2)
                    for (int i = 0; i < stride; i++)
                    {
                        int a = i >= bpp ? row[i - bpp] : 0, b = y == 0 ? 0 : prior[i];
                        row[i] = (byte)(src[i] + ((a + b) >> 1));
                    }
                    break;
                case 4: // Paeth
                    for (int i = 0; i < stride; i++)
                    {
                        int a = i >= bpp ? row[i - bpp] : 0;
                        int b = y == 0 ? 0 : prior[i];
                        int c = y == 0 || i < bpp ? 0 : prior[i - bpp];
                        row[i] = (byte)(src[i] + Paeth(a, b, c));
                    }
                    break;
                default:
                    throw new InvalidDataException($"{Cap(source)} is corrupt: row {y} has filter type {filter} (valid: 0-4).");
            }
        }
    }

    /// <summary>The Paeth predictor: whichever of a, b, c is closest to a + b − c (ties: a, then b).</summary>
    private static int Paeth(int a, int b, int c)
    {
        int p = a + b - c;
        int pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }

    private static PngImage ExpandPalette(byte[] indices, int width, int height, byte[] palette, byte[]? alpha, string source)
    {
        int channels = alpha is null ? 3 : 4;
        int entries = palette.Length / 3;
        var pixels = new byte[(long)indices.Length * channels];
        for (int i = 0; i < indices.Length; i++)
        {
            int k = indices[i];
            if (k >= entries)
                throw new InvalidDataException($"{Cap(source)} is corrupt: pixel {i % width},{i / width} uses palette index {k}; the palette has {entries} entries.");
            int o = i * channels;
            pixels[o] = palette[3 * k];
            pixels[o + 1] = palette[3 * k + 1];
            pixels[o + 2] = palette[3 * k + 2];
            if (alpha is not null) pixels[o + 3] = k < alpha.Length ? alpha[k] : (byte)255;
        }
        return new PngImage(width, height, channels, pixels);
    }

    private static string Cap(string s) => char.ToUpperInvariant(s[0]) + s[1..];

    /// <summary>CRC-32 (ISO 3309, polynomial 0xEDB88320 reflected), as PNG chunks use.</summary>
    internal static class Crc32
    {
        public const uint Initial = 0xFFFFFFFFu;
        private static readonly uint[] Table = BuildTable();

        private static uint[] BuildTable()
        {
            var t = new uint[256];
            for (uint n = 0; n < 256; n++)
            {
                uint c = n;
                for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
                t[n] = c;
            }
            return t;
        }

        public static uint Update(uint crc, ReadOnlySpan<byte> data)
        {
            foreach (byte b in data) crc = Table[(crc ^ b) & 0xFF] ^ (crc >> 8);
            return crc;
        }
    }
}
