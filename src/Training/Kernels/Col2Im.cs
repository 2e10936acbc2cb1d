namespace MLConv.Training.Kernels;

/// <summary>
/// Adjoint of <see cref="Im2Col"/>: adds every column entry back onto the pixel it was read from
/// (image += fold(cols)). Overlapping windows sum, which is exactly the input gradient of a
/// convolution given dCols = Wᵀ · dY. The caller clears <paramref name="image"/> when needed.
/// </summary>
public static class Col2Im
{
    public static void Run(ReadOnlySpan<float> cols, int ldCols, int channels, int height, int width, in Window2d g,
        int outH, int outW, Span<float> image)
    {
        int row = 0;
        for (int c = 0; c < channels; c++)
        {
            var plane = image.Slice(c * height * width, height * width);
            for (int ki = 0; ki < g.KernelH; ki++)
            for (int kj = 0; kj < g.KernelW; kj++, row++)
            {
                var src = cols.Slice(row * ldCols, outH * outW);
                int dx = kj * g.DilationW - g.PadLeft;
                int owBegin = dx >= 0 ? 0 : Math.Min(outW, (-dx + g.StrideW - 1) / g.StrideW);
                int owEnd = width - dx <= 0 ? 0 : Math.Min(outW, (width - dx + g.StrideW - 1) / g.StrideW);
                if (owEnd <= owBegin) continue;
                for (int oh = 0; oh < outH; oh++)
                {
                    int y = oh * g.StrideH + ki * g.DilationH - g.PadTop;
                    if ((uint)y >= (uint)height) continue;
                    var s = src.Slice(oh * outW, outW);
                    var dst = plane.Slice(y * width, width);
                    if (g.StrideW == 1)
                        System.Numerics.Tensors.TensorPrimitives.Add(dst.Slice(owBegin + dx, owEnd - owBegin), s[owBegin..owEnd], dst.Slice(owBegin + dx, owEnd - owBegin));
                    else
                        for (int ow = owBegin; ow < owEnd; ow++) dst[ow * g.StrideW + dx] += s[ow];
                }
            }
        }
    }
}
