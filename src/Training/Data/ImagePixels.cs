namespace MLConv.Training.Data;

/// <summary>
/// Decoded 8-bit images to the planar float input of a network: colour converted (RGB to gray by luma
/// 0.299 R + 0.587 G + 0.114 B, gray replicated to RGB, alpha dropped), scaled to 0..1 (byte / 255) and resized.
/// </summary>
public static class ImagePixels
{
    /// <summary>
    /// Writes <paramref name="image"/> as [channels, height, width] floats into <paramref name="destination"/>.
    /// Resizing is separable with a triangle (tent) filter: bilinear interpolation when enlarging; when shrinking the
    /// tent widens to the scale factor, so every source pixel contributes (area-like averaging, no aliasing).
    /// </summary>
    public static void ToPlanar(PngImage image, int channels, int height, int width, Span<float> destination)
    {
        if (channels is not (1 or 3)) throw new ArgumentOutOfRangeException(nameof(channels), channels, "channels must be 1 (gray) or 3 (RGB).");
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        if (destination.Length != channels * height * width)
            throw new ArgumentException($"destination has {destination.Length} values; {channels}x{height}x{width} needs {channels * height * width}.", nameof(destination));
        if (image.Width == width && image.Height == height)
        {
            Convert(image, channels, destination);
            return;
        }
        var source = new float[channels * image.Width * image.Height];
        Convert(image, channels, source);
        var xs = Weights(image.Width, width);
        var ys = Weights(image.Height, height);
        var rows = new float[image.Height * width];
        for (int c = 0; c < channels; c++)
        {
            var plane = source.AsSpan(c * image.Width * image.Height, image.Width * image.Height);
            for (int y = 0; y < image.Height; y++)
                Resample(plane.Slice(y * image.Width, image.Width), 1, xs, rows.AsSpan(y * width, width), 1);
            var dst = destination.Slice(c * height * width, height * width);
            for (int x = 0; x < width; x++)
                Resample(rows.AsSpan(x), width, ys, dst[x..], width);
        }
    }

    /// <summary>One output sample: the first source index and the normalised weights of the source samples from there.</summary>
    private readonly record struct Tap(int Start, float[] Weights);

    private static Tap[] Weights(int inSize, int outSize)
    {
        double scale = (double)inSize / outSize, support = Math.Max(1.0, scale);
        var taps = new Tap[outSize];
        for (int o = 0; o < outSize; o++)
        {
            double center = (o + 0.5) * scale - 0.5;
            int first = (int)Math.Floor(center - support) + 1, last = (int)Math.Ceiling(center + support) - 1;
            var w = new double[last - first + 1];
            double sum = 0;
            for (int i = first; i <= last; i++) sum += w[i - first] = Math.Max(0, 1 - Math.Abs(i - center) / support);
            // Taps outside the image read the edge pixel: fold them onto it.
            int start = Math.Clamp(first, 0, inSize - 1), end = Math.Clamp(last, 0, inSize - 1);
            var folded = new float[end - start + 1];
            for (int i = first; i <= last; i++) folded[Math.Clamp(i, 0, inSize - 1) - start] += (float)(w[i - first] / sum);
            taps[o] = new Tap(start, folded);
        }
        return taps;
    }

    private static void Resample(ReadOnlySpan<float> src, int srcStride, Tap[] taps, Span<float> dst, int dstStride)
    {
        for (int o = 0; o < taps.Length; o++)
        {
            var (start, w) = taps[o];
            float s = 0;
            for (int k = 0; k < w.Length; k++) s += w[k] * src[(start + k) * srcStride];
            dst[o * dstStride] = s;
        }
    }

    /// <summary>Interleaved 8-bit samples → planar floats in 0..1 with <paramref name="channels"/> channels, same size.</summary>
    private static void Convert(PngImage image, int channels, Span<float> dst)
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
