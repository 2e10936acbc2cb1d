namespace MLConv.Training.Kernels;

/// <summary>
/// Unfolds one C×H×W image into columns: row (c, i, j) of the result, column (oh, ow) holds
/// x[c, oh·sh − pt + i·dh, ow·sw − pl + j·dw] (0 outside the image). A convolution is then
/// W (Cout × C·kh·kw) · cols. <see cref="Col2Im"/> is its adjoint.
/// The columns of several images can share one matrix: <paramref name="ldCols"/> is the row stride.
/// </summary>
public static class Im2Col
{
    public static void Run(ReadOnlySpan<float> image, int channels, int height, int width, in Window2d g,
        int outH, int outW, Span<float> cols, int ldCols)
    {
        int row = 0;
        for (int c = 0; c < channels; c++)
        {
            var plane = image.Slice(c * height * width, height * width);
            for (int ki = 0; ki < g.KernelH; ki++)
            for (int kj = 0; kj < g.KernelW; kj++, row++)
            {
                var dst = cols.Slice(row * ldCols, outH * outW);
                int dx = kj * g.DilationW - g.PadLeft;
                // Columns ow whose source x = ow·sw + dx lies in [0, width).
                int owBegin = dx >= 0 ? 0 : Math.Min(outW, (-dx + g.StrideW - 1) / g.StrideW);
                int owEnd = width - dx <= 0 ? 0 : Math.Min(outW, (width - dx + g.StrideW - 1) / g.StrideW);
                if (owEnd < owBegin) owEnd = owBegin;
                for (int oh = 0; oh < outH; oh++)
                {
                    var d = dst.Slice(oh * outW, outW);
                    int y = oh * g.StrideH + ki * g.DilationH - g.PadTop;
                    if ((uint)y >= (uint)height) { d.Clear(); continue; }
                    var src = plane.Slice(y * width, width);
                    d[..owBegin].Clear();
                    if (g.StrideW == 1)
                        src.Slice(owBegin + dx, owEnd - owBegin).CopyTo(d[owBegin..owEnd]);
                    else
                        for (int ow = owBegin; ow < owEnd; ow++) d[ow] = src[ow * g.StrideW + dx];
                    d[owEnd..].Clear();
                }
            }
        }
    }
}
