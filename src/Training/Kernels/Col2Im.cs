using System.Runtime.Intrinsics;

namespace MLConv.Training.Kernels;

/// <summary>
/// Adjoint of <see cref="Im2Col"/>: adds every column entry back onto the pixel it was read from
/// (image += fold(cols)). Overlapping windows sum, which is exactly the input gradient of a
/// convolution given dCols = Wᵀ · dY. The caller clears the image when needed.
/// </summary>
public static class Col2Im
{
    /// <summary>Adds the columns <paramref name="cols"/> (row stride <paramref name="ldCols"/>, outH·outW columns used) back onto the channels×height×width <paramref name="image"/> through window <paramref name="g"/>.</summary>
    /// <exception cref="ArgumentException">A buffer is too short for the sizes given.</exception>
    public static void Run(ReadOnlySpan<float> cols, int ldCols, int channels, int height, int width, in Window2d g,
        int outH, int outW, Span<float> image) =>
        Run(cols, ldCols, channels, height, width, g, outH, outW, image, 0, outH);

    /// <summary>The adjoint of <see cref="Im2Col"/>'s band overload: the columns of output rows [<paramref name="rowBegin"/>, <paramref name="rowEnd"/>) only, added onto the image.</summary>
    internal static unsafe void Run(ReadOnlySpan<float> cols, int ldCols, int channels, int height, int width, in Window2d g,
        int outH, int outW, Span<float> image, int rowBegin, int rowEnd)
    {
        if (image.Length < channels * height * width)
            throw new ArgumentException($"image has {image.Length} values; {channels}x{height}x{width} needs {channels * height * width}.", nameof(image));
        int rows = channels * g.KernelH * g.KernelW;
        int bandCols = (rowEnd - rowBegin) * outW;
        if (rows > 0 && cols.Length < (long)(rows - 1) * ldCols + bandCols)
            throw new ArgumentException($"cols has {cols.Length} values; {rows} rows of {bandCols} with stride {ldCols} need more.", nameof(cols));
        fixed (float* col = cols, img = image)
        {
            int row = 0;
            for (int c = 0; c < channels; c++)
            {
                float* plane = img + (long)c * height * width;
                for (int ki = 0; ki < g.KernelH; ki++)
                for (int kj = 0; kj < g.KernelW; kj++, row++)
                {
                    float* src = col + (long)row * ldCols;
                    int dx = kj * g.DilationW - g.PadLeft;
                    var (owBegin, owEnd) = Window2d.Inside(dx, g.StrideW, width, outW);
                    if (owEnd <= owBegin) continue;
                    for (int oh = rowBegin; oh < rowEnd; oh++, src += outW)
                    {
                        int y = oh * g.StrideH + ki * g.DilationH - g.PadTop;
                        if ((uint)y >= (uint)height) continue;
                        float* dst = plane + (long)y * width + dx;
                        if (g.StrideW == 1)
                        {
                            int ow = owBegin;
                            for (; ow + 8 <= owEnd; ow += 8)
                                (Vector256.Load(dst + ow) + Vector256.Load(src + ow)).Store(dst + ow);
                            for (; ow < owEnd; ow++) dst[ow] += src[ow];
                        }
                        else
                            for (int ow = owBegin; ow < owEnd; ow++) dst[ow * g.StrideW] += src[ow];
                    }
                }
            }
        }
    }
}
