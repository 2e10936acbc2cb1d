using MLConv.Tests.Data;
using StbImageWriteSharp;

namespace MLConv.Cli.Tests;

/// <summary>
/// A tiny image folder in a temp directory: classes "bars" (vertical stripes) and "rings" (a bright ring), drawn in
/// colour at mixed sizes as JPEG, PNG and BMP with mixed-case extensions, plus a text file that must be skipped.
/// </summary>
internal sealed class TinyImages : IDisposable
{
    public static readonly (int W, int H)[] Sizes = [(16, 16), (20, 14), (12, 18), (24, 24)];

    public TinyImages(int perClass = 8, int seed = 1)
    {
        var rng = new Random(seed);
        foreach (string cls in Classes)
            for (int i = 0; i < perClass; i++)
            {
                var (w, h) = Sizes[i % Sizes.Length];
                var px = Draw(cls, w, h, rng);
                string ext = (i % 4) switch { 0 => ".jpg", 1 => ".PNG", 2 => ".Jpeg", _ => ".bmp" };
                Write(Path.Combine(Root, cls, $"{i:D2}{ext}"), px, w, h);
            }
        File.WriteAllText(Path.Combine(Root, "bars", "notes.txt"), "not an image");
    }

    public static readonly string[] Classes = ["bars", "rings"];

    private readonly TempFolder _dir = new();
    public string Root => _dir.Path;
    public string this[string relative] => _dir[relative];

    /// <summary>RGB pixels of one picture of <paramref name="cls"/> on a random dark colour.</summary>
    public static byte[] Draw(string cls, int w, int h, Random rng)
    {
        var px = new byte[w * h * 3];
        byte[] bg = [(byte)rng.Next(0, 80), (byte)rng.Next(0, 80), (byte)rng.Next(0, 80)];
        byte[] fg = [(byte)rng.Next(170, 256), (byte)rng.Next(170, 256), (byte)rng.Next(170, 256)];
        int phase = rng.Next(4);
        for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
        {
            bool on = cls == "bars"
                ? (x + phase) / 2 % 2 == 0
                : Math.Abs(Math.Sqrt((x - w / 2.0) * (x - w / 2.0) + (y - h / 2.0) * (y - h / 2.0)) - Math.Min(w, h) / 3.0) < 1.5;
            var c = on ? fg : bg;
            for (int k = 0; k < 3; k++) px[(y * w + x) * 3 + k] = c[k];
        }
        return px;
    }

    /// <summary>Writes RGB pixels as JPEG, PNG or BMP by the extension (any case).</summary>
    public static void Write(string path, byte[] rgb, int w, int h)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var s = File.Create(path);
        var writer = new ImageWriter();
        switch (Path.GetExtension(path).ToLowerInvariant())
        {
            case ".jpg" or ".jpeg": writer.WriteJpg(rgb, w, h, ColorComponents.RedGreenBlue, s, 95); break;
            case ".png": writer.WritePng(rgb, w, h, ColorComponents.RedGreenBlue, s); break;
            case ".bmp": writer.WriteBmp(rgb, w, h, ColorComponents.RedGreenBlue, s); break;
            default: throw new ArgumentException($"no writer for {path}");
        }
    }

    public void Dispose() => _dir.Dispose();
}
