using SkiaSharp;

namespace MLConv.Plots;

/// <summary>A small picture drawn cell by cell: <paramref name="Rgb"/> holds Width·Height RGB triples, row-major.</summary>
internal readonly record struct Tile(int Width, int Height, byte[] Rgb)
{
    /// <summary>
    /// A tile of one plane (row-major <paramref name="width"/> x <paramref name="height"/>). Symmetric (weights): 0 is
    /// mid-grey and ±<paramref name="range"/> black/white. Otherwise (activations): the plane's own minimum black,
    /// maximum white; a constant plane is black.
    /// </summary>
    public static Tile Gray(ReadOnlySpan<float> plane, int width, int height, bool symmetric, float range = 0)
    {
        var rgb = new byte[width * height * 3];
        float lo = 0, hi = 0;
        if (!symmetric)
        {
            lo = float.PositiveInfinity; hi = float.NegativeInfinity;
            foreach (float v in plane) { lo = Math.Min(lo, v); hi = Math.Max(hi, v); }
        }
        for (int i = 0; i < width * height; i++)
        {
            byte g = symmetric ? Symmetric(plane[i], range) : hi > lo ? (byte)Math.Round(255 * (plane[i] - lo) / (hi - lo)) : (byte)0;
            rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = g;
        }
        return new Tile(width, height, rgb);
    }

    /// <summary>A colour tile of three planes (R, G, B, each row-major), scaled like <see cref="Gray"/>, the three planes together.</summary>
    public static Tile Color(ReadOnlySpan<float> r, ReadOnlySpan<float> g, ReadOnlySpan<float> b, int width, int height, bool symmetric, float range = 0)
    {
        int n = width * height;
        float lo = float.PositiveInfinity, hi = float.NegativeInfinity;
        if (!symmetric)
            for (int i = 0; i < n; i++) { lo = Math.Min(lo, Math.Min(r[i], Math.Min(g[i], b[i]))); hi = Math.Max(hi, Math.Max(r[i], Math.Max(g[i], b[i]))); }
        var rgb = new byte[n * 3];
        for (int i = 0; i < n; i++)
        {
            rgb[3 * i] = symmetric ? Symmetric(r[i], range) : Stretch(r[i], lo, hi);
            rgb[3 * i + 1] = symmetric ? Symmetric(g[i], range) : Stretch(g[i], lo, hi);
            rgb[3 * i + 2] = symmetric ? Symmetric(b[i], range) : Stretch(b[i], lo, hi);
        }
        return new Tile(width, height, rgb);
    }

    private static byte Symmetric(float v, float range) => range > 0 ? (byte)Math.Round(127.5 + 127.5 * Math.Clamp(v / range, -1f, 1f)) : (byte)128;

    private static byte Stretch(float v, float lo, float hi) => hi > lo ? (byte)Math.Round(255 * (v - lo) / (hi - lo)) : (byte)0;
}

/// <summary>Rows of labelled tiles on a white sheet with a title: the layout of the filter and feature-map pictures.</summary>
internal static class TileSheet
{
    private const int Margin = 10, Gap = 4, TitleHeight = 26, LabelHeight = 18;

    /// <summary>
    /// Draws each row's label, then its tiles scaled by whole pixels (nearest neighbour) to fit <paramref name="cell"/>
    /// pixels, <paramref name="columns"/> to a line (a longer row wraps).
    /// </summary>
    public static SKBitmap Render(string title, IReadOnlyList<(string Label, IReadOnlyList<Tile> Tiles)> rows, int cell, int columns)
    {
        using var titleFont = new SKPaint { Color = SKColors.Black, IsAntialias = true, TextSize = 16, Typeface = SKTypeface.FromFamilyName(Fonts.Sans, SKFontStyle.Bold) };
        using var labelFont = new SKPaint { Color = new SKColor(60, 60, 60), IsAntialias = true, TextSize = 12, Typeface = SKTypeface.FromFamilyName(Fonts.Sans) };
        int lines = rows.Sum(r => Math.Max(1, (r.Tiles.Count + columns - 1) / columns));
        float text = Math.Max(titleFont.MeasureText(title), rows.Count == 0 ? 0 : rows.Max(r => labelFont.MeasureText(r.Label)));
        int width = Math.Max(2 * Margin + columns * (cell + Gap) - Gap, 2 * Margin + (int)Math.Ceiling(text));
        int height = Margin + TitleHeight + rows.Count * LabelHeight + lines * (cell + Gap) + Margin;
        var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque));
        using var canvas = new SKCanvas(bitmap);
        canvas.Clear(SKColors.White);
        using var frame = new SKPaint { Color = new SKColor(200, 200, 200), Style = SKPaintStyle.Stroke, StrokeWidth = 1 };
        using var fill = new SKPaint { IsAntialias = false, Style = SKPaintStyle.Fill };
        canvas.DrawText(title, Margin, Margin + 16, titleFont);
        float y = Margin + TitleHeight;
        foreach (var (label, tiles) in rows)
        {
            canvas.DrawText(label, Margin, y + 12, labelFont);
            y += LabelHeight;
            for (int i = 0; i < Math.Max(1, tiles.Count); i++)
            {
                if (i > 0 && i % columns == 0) y += cell + Gap;
                if (i >= tiles.Count) break;
                float x = Margin + i % columns * (cell + Gap);
                Draw(canvas, fill, tiles[i], x, y, cell);
                canvas.DrawRect(x - 0.5f, y - 0.5f, cell + 1, cell + 1, frame);
            }
            y += cell + Gap;
        }
        return bitmap;
    }

    private static void Draw(SKCanvas canvas, SKPaint fill, Tile tile, float x, float y, int cell)
    {
        float scale = Math.Max(1, Math.Min(cell / tile.Width, cell / tile.Height));
        if (tile.Width > cell || tile.Height > cell) scale = Math.Min((float)cell / tile.Width, (float)cell / tile.Height);
        float ox = x + (cell - tile.Width * scale) / 2, oy = y + (cell - tile.Height * scale) / 2;
        for (int r = 0; r < tile.Height; r++)
            for (int c = 0; c < tile.Width; c++)
            {
                int i = 3 * (r * tile.Width + c);
                fill.Color = new SKColor(tile.Rgb[i], tile.Rgb[i + 1], tile.Rgb[i + 2]);
                canvas.DrawRect(ox + c * scale, oy + r * scale, scale, scale, fill);
            }
    }
}
