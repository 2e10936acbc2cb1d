using MLConv.Training.Data;
using OxyPlot;
using SkiaSharp;

namespace MLConv.Plots;

/// <summary>
/// Writes a chart or a bitmap as a PNG file atomically (<see cref="AtomicFile"/>: a temp file in the same folder, renamed
/// over the target), so a reader never sees half a picture.
/// </summary>
public static class ChartFile
{
    /// <summary>The largest width or height accepted, in pixels.</summary>
    public const int MaxSize = 16384;

    /// <summary>Renders <paramref name="model"/> (OxyPlot through SkiaSharp, white background when it has none) at <paramref name="width"/> x <paramref name="height"/> pixels into a PNG at <paramref name="path"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A size is below 16 or above <see cref="MaxSize"/>.</exception>
    public static void SavePng(PlotModel model, string path, int width, int height)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        CheckSize(width, nameof(width));
        CheckSize(height, nameof(height));
        if (model.Background.IsUndefined() || model.Background.IsInvisible()) model.Background = OxyColors.White;
        AtomicFile.Write(path, stream => OxyPlot.SkiaSharp.PngExporter.Export(model, stream, width, height));
    }

    /// <summary>Encodes <paramref name="bitmap"/> as a PNG at <paramref name="path"/>.</summary>
    public static void SavePng(SKBitmap bitmap, string path)
    {
        ArgumentNullException.ThrowIfNull(bitmap);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(SKEncodedImageFormat.Png, 100)
            ?? throw new InvalidOperationException($"SkiaSharp could not encode a {bitmap.Width}x{bitmap.Height} bitmap as PNG for '{path}'.");
        AtomicFile.Write(path, data.AsSpan());
    }

    internal static void CheckSize(int size, string name)
    {
        if (size < 16 || size > MaxSize) throw new ArgumentOutOfRangeException(name, size, $"{name} must be in [16, {MaxSize}] pixels.");
    }
}
