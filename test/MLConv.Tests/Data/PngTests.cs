using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using MLConv.Training.Data;

namespace MLConv.Tests.Data;

[TestClass]
public sealed class PngTests
{
    private static byte[] RandomPixels(int n, Random r)
    {
        var b = new byte[n];
        r.NextBytes(b);
        return b;
    }

    [TestMethod]
    [DataRow(1, 7, 5)]
    [DataRow(3, 5, 9)]
    [DataRow(1, 1, 1)]
    [DataRow(3, 31, 2)]
    [DataRow(2, 4, 6)]
    [DataRow(4, 6, 3)]
    public void WriteThenReadRoundTrips(int channels, int width, int height)
    {
        using var dir = new TempFolder();
        var r = new Random(channels * 100 + width * 10 + height);
        // Random noise and a smooth gradient exercise different filter choices in the writer.
        foreach (bool smooth in new[] { false, true })
        {
            byte[] pixels = smooth
                ? [.. Enumerable.Range(0, width * height * channels).Select(i => (byte)(i / channels % width * 3 + i / channels / width * 5))]
                : RandomPixels(width * height * channels, r);
            string path = dir[$"img{smooth}.png"];
            Png.Write(path, pixels, width, height, channels);
            var image = Png.Read(path);
            Assert.AreEqual(width, image.Width);
            Assert.AreEqual(height, image.Height);
            Assert.AreEqual(channels, image.Channels);
            CollectionAssert.AreEqual(pixels, image.Pixels);
        }
        Assert.AreEqual(2, Directory.GetFiles(dir.Path).Length, "no temporary files are left behind");
    }

    [TestMethod]
    public void WriteOverwritesAndStreamOverloadsAgree()
    {
        using var dir = new TempFolder();
        string path = dir["x.png"];
        Png.Write(path, new byte[12], 4, 3, 1);
        var pixels = RandomPixels(4 * 3 * 3, new Random(1));
        Png.Write(path, pixels, 4, 3, 3);
        var fromFile = Png.Read(path);
        CollectionAssert.AreEqual(pixels, fromFile.Pixels);

        using var ms = new MemoryStream();
        Png.Write(ms, pixels, 4, 3, 3);
        CollectionAssert.AreEqual(File.ReadAllBytes(path), ms.ToArray());
        ms.Position = 0;
        CollectionAssert.AreEqual(pixels, Png.Read(ms).Pixels);
    }

    [TestMethod]
    public void WriteValidatesArguments()
    {
        using var dir = new TempFolder();
        Assert.AreEqual("pixels", Assert.ThrowsExactly<ArgumentException>(() => Png.Write(dir["a.png"], new byte[5], 2, 3, 1)).ParamName);
        Assert.AreEqual("channels", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Png.Write(dir["a.png"], new byte[30], 2, 3, 5)).ParamName);
        Assert.AreEqual("width", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Png.Write(dir["a.png"], [], 0, 3, 1)).ParamName);
    }

    // ------------------------------------------------------------ decoding PNGs built here, independently of the writer

    /// <summary>Bitwise CRC-32 (no table), independent of the decoder's.</summary>
    private static uint Crc(ReadOnlySpan<byte> bytes)
    {
        uint c = 0xFFFFFFFF;
        foreach (byte b in bytes)
        {
            c ^= b;
            for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (uint)-(int)(c & 1));
        }
        return ~c;
    }

    private static void Chunk(Stream s, string type, byte[] data)
    {
        var typed = Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
        var be = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(be, data.Length);
        s.Write(be);
        s.Write(typed);
        BinaryPrimitives.WriteUInt32BigEndian(be, Crc(typed));
        s.Write(be);
    }

    /// <summary>The filtered byte for each filter type, straight from the PNG specification's definitions.</summary>
    private static byte[] FilterRow(int type, byte[] raw, byte[]? prior, int bpp)
    {
        var o = new byte[raw.Length];
        for (int x = 0; x < raw.Length; x++)
        {
            int a = x >= bpp ? raw[x - bpp] : 0;
            int b = prior?[x] ?? 0;
            int c = x >= bpp && prior is not null ? prior[x - bpp] : 0;
            int pred = type switch
            {
                0 => 0,
                1 => a,
                2 => b,
                3 => (int)Math.Floor((a + b) / 2.0),
                4 => PaethSpec(a, b, c),
                _ => throw new ArgumentOutOfRangeException(nameof(type)),
            };
            o[x] = (byte)((raw[x] - pred) & 0xFF);
        }
        return o;
    }

    private static int PaethSpec(int a, int b, int c)
    {
        int p = a + b - c, pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        if (pa <= pb && pa <= pc) return a;
        return pb <= pc ? b : c;
    }

    /// <summary>A PNG of <paramref name="samples"/> (bpp bytes a pixel) with the given filter on each row; IDAT split in <paramref name="idatChunks"/>.</summary>
    private static byte[] BuildPng(byte[] samples, int width, int height, int bpp, byte colorType, Func<int, int> filterOfRow,
        byte depth = 8, byte interlace = 0, byte[]? palette = null, byte[]? trns = null, int idatChunks = 1)
    {
        var raw = new MemoryStream();
        int stride = width * bpp;
        for (int y = 0; y < height; y++)
        {
            var row = samples.AsSpan(y * stride, stride).ToArray();
            var prior = y == 0 ? null : samples.AsSpan((y - 1) * stride, stride).ToArray();
            int f = filterOfRow(y);
            raw.WriteByte((byte)f);
            raw.Write(FilterRow(f, row, prior, bpp));
        }
        var z = new MemoryStream();
        using (var zs = new ZLibStream(z, CompressionLevel.Fastest, leaveOpen: true)) zs.Write(raw.ToArray());
        var zbytes = z.ToArray();

        var png = new MemoryStream();
        png.Write([137, 80, 78, 71, 13, 10, 26, 10]);
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = depth; ihdr[9] = colorType; ihdr[12] = interlace;
        Chunk(png, "IHDR", ihdr);
        Chunk(png, "tEXt", Encoding.ASCII.GetBytes("Comment\0ancillary chunks are skipped"));
        if (palette is not null) Chunk(png, "PLTE", palette);
        if (trns is not null) Chunk(png, "tRNS", trns);
        int per = (zbytes.Length + idatChunks - 1) / idatChunks;
        for (int off = 0; off < zbytes.Length; off += per) Chunk(png, "IDAT", zbytes[off..Math.Min(zbytes.Length, off + per)]);
        Chunk(png, "IEND", []);
        return png.ToArray();
    }

    [TestMethod]
    [DataRow(0, "None")]
    [DataRow(1, "Sub")]
    [DataRow(2, "Up")]
    [DataRow(3, "Average")]
    [DataRow(4, "Paeth")]
    public void DecodesEachFilterType(int filter, string name)
    {
        foreach (var (colorType, bpp) in new (byte, int)[] { (0, 1), (4, 2), (2, 3), (6, 4) })
        {
            int width = 7, height = 5;
            var samples = RandomPixels(width * height * bpp, new Random(filter * 10 + bpp));
            var png = BuildPng(samples, width, height, bpp, colorType, _ => filter);
            var image = Png.Read(new MemoryStream(png));
            Assert.AreEqual((width, height, bpp), (image.Width, image.Height, image.Channels), $"{name}, color type {colorType}");
            CollectionAssert.AreEqual(samples, image.Pixels, $"filter {name}, color type {colorType}");
        }
    }

    [TestMethod]
    public void DecodesMixedFiltersAcrossRowsAndSplitIdat()
    {
        int width = 9, height = 11, bpp = 3;
        var samples = RandomPixels(width * height * bpp, new Random(7));
        var png = BuildPng(samples, width, height, bpp, 2, y => (y * 3 + 1) % 5, idatChunks: 4);
        CollectionAssert.AreEqual(samples, Png.Read(new MemoryStream(png)).Pixels);
    }

    [TestMethod]
    public void DecodesPaletteImagesWithAndWithoutTransparency()
    {
        int width = 6, height = 4;
        byte[] palette = [10, 20, 30, 40, 50, 60, 70, 80, 90];
        byte[] indices = [.. Enumerable.Range(0, width * height).Select(i => (byte)(i * 7 % 3))];
        var rgb = Png.Read(new MemoryStream(BuildPng(indices, width, height, 1, 3, y => y % 5, palette: palette)));
        Assert.AreEqual(3, rgb.Channels);
        CollectionAssert.AreEqual(indices.SelectMany(k => palette.Skip(3 * k).Take(3)).ToArray(), rgb.Pixels);

        var rgba = Png.Read(new MemoryStream(BuildPng(indices, width, height, 1, 3, _ => 4, palette: palette, trns: [0, 128])));
        Assert.AreEqual(4, rgba.Channels);
        byte[] alpha = [0, 128, 255];
        CollectionAssert.AreEqual(indices.SelectMany(k => palette.Skip(3 * k).Take(3).Append(alpha[k])).ToArray(), rgba.Pixels);

        byte[] outOfRange = [.. indices];
        outOfRange[5] = 3;
        Assert.ThrowsExactly<InvalidDataException>(() => Png.Read(new MemoryStream(BuildPng(outOfRange, width, height, 1, 3, _ => 0, palette: palette))));
    }

    [TestMethod]
    public void InterlacedAnd16BitAreNotSupported()
    {
        var samples = new byte[4 * 3];
        var interlaced = BuildPng(samples, 4, 3, 1, 0, _ => 0, interlace: 1);
        StringAssert.Contains(Assert.ThrowsExactly<NotSupportedException>(() => Png.Read(new MemoryStream(interlaced))).Message, "interlaced");
        var deep = BuildPng(new byte[4 * 3 * 2], 4, 3, 2, 0, _ => 0, depth: 16);
        StringAssert.Contains(Assert.ThrowsExactly<NotSupportedException>(() => Png.Read(new MemoryStream(deep))).Message, "16-bit");
    }

    // ------------------------------------------------------------ failures name the file and the fault

    [TestMethod]
    public void MissingFileThrowsFileNotFoundNamingThePath()
    {
        using var dir = new TempFolder();
        string path = dir["nope/missing.png"];
        var e = Assert.ThrowsExactly<FileNotFoundException>(() => Png.Read(path));
        Assert.AreEqual(path, e.FileName);
        StringAssert.Contains(e.Message, path);
    }

    [TestMethod]
    public void CorruptCrcIsDetected()
    {
        using var dir = new TempFolder();
        string path = dir["bad.png"];
        Png.Write(path, RandomPixels(5 * 4, new Random(3)), 5, 4, 1);
        var bytes = File.ReadAllBytes(path);
        bytes[8 + 8 + 13] ^= 0x01; // first byte of IHDR's CRC
        File.WriteAllBytes(path, bytes);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => Png.Read(path));
        StringAssert.Contains(e.Message, path);
        StringAssert.Contains(e.Message, "CRC");

        bytes[8 + 8 + 13] ^= 0x01;
        bytes[8 + 8 + 5] ^= 0x40; // inside IHDR data: CRC no longer matches either
        File.WriteAllBytes(path, bytes);
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => Png.Read(path)).Message, "CRC");
    }

    [TestMethod]
    public void TruncatedFilesAreInvalidData()
    {
        using var dir = new TempFolder();
        string path = dir["cut.png"];
        Png.Write(path, RandomPixels(9 * 7 * 3, new Random(4)), 9, 7, 3);
        var bytes = File.ReadAllBytes(path);
        foreach (int keep in new[] { 0, 4, 8, 20, 33, bytes.Length / 2, bytes.Length - 12, bytes.Length - 1 })
        {
            File.WriteAllBytes(path, bytes[..keep]);
            var e = Assert.ThrowsExactly<InvalidDataException>(() => Png.Read(path), $"kept {keep} of {bytes.Length} bytes");
            StringAssert.Contains(e.Message, path);
        }
    }

    [TestMethod]
    public void NonPngAndBadImageDataAreInvalidData()
    {
        using var dir = new TempFolder();
        string path = dir["text.png"];
        File.WriteAllText(path, "this is not an image, just some text");
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => Png.Read(path)).Message, "not a PNG");

        // Valid chunks and CRCs, but the deflate stream inside IDAT is garbage.
        var png = BuildPng(new byte[6], 3, 2, 1, 0, _ => 0);
        int idat = IndexOf(png, "IDAT"u8);
        int len = BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(idat - 4));
        for (int i = 2; i < len; i++) png[idat + 4 + i] = 0xFF;
        BinaryPrimitives.WriteUInt32BigEndian(png.AsSpan(idat + 4 + len), Crc(png.AsSpan(idat, 4 + len)));
        File.WriteAllBytes(path, png);
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => Png.Read(path)).Message, path);

        // A row filter byte outside 0..4.
        var badFilter = BuildPng(new byte[6], 3, 2, 1, 0, y => 0);
        var raw = new byte[] { 0, 1, 2, 3, 9, 4, 5, 6 };
        var rebuilt = ReplaceIdat(badFilter, raw);
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => Png.Read(new MemoryStream(rebuilt))).Message, "filter type 9");
    }

    private static int IndexOf(byte[] haystack, ReadOnlySpan<byte> needle) => haystack.AsSpan().IndexOf(needle);

    private static byte[] ReplaceIdat(byte[] png, byte[] raw)
    {
        var z = new MemoryStream();
        using (var zs = new ZLibStream(z, CompressionLevel.Fastest, leaveOpen: true)) zs.Write(raw);
        int idat = IndexOf(png, "IDAT"u8);
        int len = BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(idat - 4));
        var o = new MemoryStream();
        o.Write(png.AsSpan(0, idat - 4));
        Chunk(o, "IDAT", z.ToArray());
        o.Write(png.AsSpan(idat + 4 + len + 4));
        return o.ToArray();
    }
}
