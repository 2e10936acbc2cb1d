namespace MLConv.Training.Fitting;

/// <summary>
/// The photo augmentations of <see cref="TrainerOptions"/> on one planar [C, H, W] image of raw pixels (before
/// normalisation; any pixel scale, nothing is clamped), drawing from the trainer's seeded random stream.
/// </summary>
internal static class Augmentation
{
    private static readonly double LogRatioLow = Math.Log(3.0 / 4), LogRatioHigh = Math.Log(4.0 / 3);

    /// <summary>
    /// Random resized crop (Inception's, torchvision's RandomResizedCrop): a box covering a fraction a ~ U[minArea, 1] of
    /// the image with aspect ratio r, log r ~ U[log 3/4, log 4/3] (clamped to the image), at a uniform position, resized
    /// back to H × W by <see cref="ResizeBox"/>.
    /// </summary>
    public static void RandomResizedCrop(ReadOnlySpan<float> src, Span<float> dst, int channels, int height, int width, double minArea, Random rng)
    {
        double area = minArea + (1 - minArea) * rng.NextDouble();
        double ratio = Math.Exp(LogRatioLow + (LogRatioHigh - LogRatioLow) * rng.NextDouble());
        int w = Math.Clamp((int)Math.Round(Math.Sqrt(area * ratio) * width), 1, width);
        int h = Math.Clamp((int)Math.Round(Math.Sqrt(area / ratio) * height), 1, height);
        int top = rng.Next(height - h + 1), left = rng.Next(width - w + 1);
        ResizeBox(src, dst, channels, height, width, top, left, h, w);
    }

    /// <summary>
    /// dst = the box [top, top + boxH) × [left, left + boxW) of src resized to H × W by bilinear interpolation with
    /// half-pixel centres: output pixel (y, x) samples the box at (top + (y + ½)·boxH/H − ½, left + (x + ½)·boxW/W − ½),
    /// clamped to the box.
    /// </summary>
    public static void ResizeBox(ReadOnlySpan<float> src, Span<float> dst, int channels, int height, int width, int top, int left, int boxH, int boxW)
    {
        double sy = (double)boxH / height, sx = (double)boxW / width;
        Span<int> x0 = width <= 1024 ? stackalloc int[width] : new int[width];
        Span<float> fx = width <= 1024 ? stackalloc float[width] : new float[width];
        for (int x = 0; x < width; x++)
        {
            double p = Math.Clamp((x + 0.5) * sx - 0.5, 0, boxW - 1);
            int i = Math.Min((int)p, Math.Max(0, boxW - 2));
            x0[x] = left + i;
            fx[x] = (float)(p - i);
        }
        for (int y = 0; y < height; y++)
        {
            double p = Math.Clamp((y + 0.5) * sy - 0.5, 0, boxH - 1);
            int j = Math.Min((int)p, Math.Max(0, boxH - 2));
            float fy = (float)(p - j);
            int r0 = top + j, r1 = top + Math.Min(j + 1, boxH - 1);
            for (int c = 0; c < channels; c++)
            {
                var a = src.Slice((c * height + r0) * width, width);
                var b = src.Slice((c * height + r1) * width, width);
                var o = dst.Slice((c * height + y) * width, width);
                for (int x = 0; x < width; x++)
                {
                    int i = x0[x], k = Math.Min(i + 1, left + boxW - 1);
                    float f = fx[x], t = (1 - f) * a[i] + f * a[k], u = (1 - f) * b[i] + f * b[k];
                    o[x] = (1 - fy) * t + fy * u;   // weights of exactly 0 and 1 reproduce the source pixel
                }
            }
        }
    }

    /// <summary>
    /// Colour jitter in torchvision's order, each factor f ~ U[1 − j, 1 + j] drawn only when its j > 0: brightness
    /// x ← f·x; contrast x ← m + f·(x − m), m the image's mean grey; saturation x ← g + f·(x − g) per pixel, g its grey
    /// (0.299 R + 0.587 G + 0.114 B; 3-channel images only). Grey is the mean of the channels for other counts.
    /// </summary>
    public static void ColorJitter(Span<float> image, int channels, int plane, double brightness, double contrast, double saturation, Random rng)
    {
        if (brightness > 0)
        {
            float f = (float)(1 + brightness * (2 * rng.NextDouble() - 1));
            System.Numerics.Tensors.TensorPrimitives.Multiply(image, f, image);
        }
        if (contrast > 0)
        {
            float f = (float)(1 + contrast * (2 * rng.NextDouble() - 1));
            double sum = 0;
            for (int i = 0; i < plane; i++) sum += Grey(image, channels, plane, i);
            float m = (float)(sum / plane);
            for (int i = 0; i < image.Length; i++) image[i] = m + f * (image[i] - m);
        }
        if (saturation > 0 && channels == 3)
        {
            float f = (float)(1 + saturation * (2 * rng.NextDouble() - 1));
            for (int i = 0; i < plane; i++)
            {
                float g = Grey(image, channels, plane, i);
                for (int c = 0; c < 3; c++) image[c * plane + i] = g + f * (image[c * plane + i] - g);
            }
        }
    }

    private static float Grey(Span<float> image, int channels, int plane, int i)
    {
        if (channels == 3) return 0.299f * image[i] + 0.587f * image[plane + i] + 0.114f * image[2 * plane + i];
        float s = 0;
        for (int c = 0; c < channels; c++) s += image[c * plane + i];
        return s / channels;
    }
}
