using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MLConv.Training.Kernels;

/// <summary>
/// Unfolds one C×H×W image into columns: row (c, i, j) of the result, column (oh, ow) holds
/// x[c, oh·sh − pt + i·dh, ow·sw − pl + j·dw] (0 outside the image). A convolution is then
/// W (Cout × C·kh·kw) · cols. <see cref="Col2Im"/> is its adjoint.
/// The columns of several images can share one matrix: <c>ldCols</c> is the row stride.
/// </summary>
public static class Im2Col
{
    /// <summary>Unfolds the channels×height×width <paramref name="image"/> through window <paramref name="g"/> into <paramref name="cols"/>: channels·kh·kw rows of outH·outW columns, rows <paramref name="ldCols"/> apart.</summary>
    /// <exception cref="ArgumentException">A buffer is too short for the sizes given.</exception>
    public static void Run(ReadOnlySpan<float> image, int channels, int height, int width, in Window2d g,
        int outH, int outW, Span<float> cols, int ldCols) =>
        Run(image, channels, height, width, g, outH, outW, cols, ldCols, 0, outH);

    /// <summary>
    /// As the public overload for the band of output rows [<paramref name="rowBegin"/>, <paramref name="rowEnd"/>) only:
    /// (rowEnd − rowBegin)·outW columns, column 0 being output pixel (rowBegin, 0). A convolution over a large image runs
    /// band by band so that its columns stay in cache.
    /// </summary>
    internal static unsafe void Run(ReadOnlySpan<float> image, int channels, int height, int width, in Window2d g,
        int outH, int outW, Span<float> cols, int ldCols, int rowBegin, int rowEnd)
    {
        if (image.Length < channels * height * width)
            throw new ArgumentException($"image has {image.Length} values; {channels}x{height}x{width} needs {channels * height * width}.", nameof(image));
        int rows = channels * g.KernelH * g.KernelW;
        int bandCols = (rowEnd - rowBegin) * outW;
        if (rows > 0 && cols.Length < (long)(rows - 1) * ldCols + bandCols)
            throw new ArgumentException($"cols has {cols.Length} values; {rows} rows of {bandCols} with stride {ldCols} need more.", nameof(cols));
        // Valid output rows per kernel row ki and valid output columns per kernel column kj do not depend on the
        // channel: work them out once, then each (c, ki, kj) row is zero bands plus straight row copies.
        Span<int> rowRange = stackalloc int[2 * g.KernelH];
        Span<int> colRange = stackalloc int[3 * g.KernelW];
        for (int ki = 0; ki < g.KernelH; ki++)
        {
            // y = oh·sh + ki·dh − pt
            (rowRange[2 * ki], rowRange[2 * ki + 1]) = Window2d.Inside(ki * g.DilationH - g.PadTop, g.StrideH, height, outH);
        }
        for (int kj = 0; kj < g.KernelW; kj++)
        {
            int dx = kj * g.DilationW - g.PadLeft;   // x = ow·sw + dx
            (colRange[3 * kj], colRange[3 * kj + 1]) = Window2d.Inside(dx, g.StrideW, width, outW);
            colRange[3 * kj + 2] = dx;
        }
        fixed (float* img = image, col = cols)
        {
            int row = 0, plane = height * width;
            for (int c = 0; c < channels; c++)
            for (int ki = 0; ki < g.KernelH; ki++)
            {
                int ohBegin = Math.Clamp(rowRange[2 * ki], rowBegin, rowEnd), ohEnd = Math.Clamp(rowRange[2 * ki + 1], ohBegin, rowEnd);
                for (int kj = 0; kj < g.KernelW; kj++, row++)
                {
                    float* dstRow = col + (long)row * ldCols - (long)rowBegin * outW;   // indexed by absolute output row
                    int owBegin = colRange[3 * kj], owEnd = colRange[3 * kj + 1], dx = colRange[3 * kj + 2];
                    new Span<float>(dstRow + rowBegin * outW, (ohBegin - rowBegin) * outW).Clear();
                    new Span<float>(dstRow + ohEnd * outW, (rowEnd - ohEnd) * outW).Clear();
                    float* dst = dstRow + ohBegin * outW;
                    float* src = img + (long)c * plane + (long)(ohBegin * g.StrideH + ki * g.DilationH - g.PadTop) * width + dx;
                    long srcStep = (long)g.StrideH * width;
                    for (int oh = ohBegin; oh < ohEnd; oh++, dst += outW, src += srcStep)
                    {
                        for (int ow = 0; ow < owBegin; ow++) dst[ow] = 0f;
                        if (g.StrideW == 1)
                            Copy(src + owBegin, dst + owBegin, owEnd - owBegin);
                        else if (g.StrideW == 2 && Avx2.IsSupported)
                            CopyEven(src, dst, owBegin, owEnd, width - dx);
                        else
                            for (int ow = owBegin; ow < owEnd; ow++) dst[ow] = src[ow * g.StrideW];
                        for (int ow = owEnd; ow < outW; ow++) dst[ow] = 0f;
                    }
                }
            }
        }
    }

    /// <summary>
    /// dst[ow] = src[2·ow] for ow in [begin, end): eight at a time (two loads, a shuffle and a permute) while the sixteen
    /// floats read stay below <paramref name="limit"/> (the row's end), then one by one.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void CopyEven(float* src, float* dst, int begin, int end, int limit)
    {
        int ow = begin;
        for (; ow + 8 <= end && 2 * ow + 16 <= limit; ow += 8)
        {
            var mixed = Avx.Shuffle(Avx.LoadVector256(src + 2 * ow), Avx.LoadVector256(src + 2 * ow + 8), 0x88);   // [a0 a2 b0 b2 a4 a6 b4 b6]
            Avx.Store(dst + ow, Avx2.Permute4x64(mixed.AsDouble(), 0xD8).AsSingle());                        // [a0 a2 a4 a6 b0 b2 b4 b6]
        }
        for (; ow < end; ow++) dst[ow] = src[2 * ow];
    }

    /// <summary>Copies a short row: 8-wide moves, the last one overlapping the previous (rows are typically 5–64 floats).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Copy(float* src, float* dst, int len)
    {
        if (len < 8)
        {
            for (int i = 0; i < len; i++) dst[i] = src[i];
            return;
        }
        int j = 0;
        for (; j + 8 <= len; j += 8) Vector256.Load(src + j).Store(dst + j);
        if (j < len) Vector256.Load(src + len - 8).Store(dst + len - 8);
    }
}
