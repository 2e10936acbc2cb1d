namespace MLConv.Training.Kernels;

/// <summary>
/// Geometry of a sliding 2-D window (convolution or pooling): kernel, stride, dilation and the
/// four paddings (ONNX order would be [top, left, bottom, right]).
/// Output size (floor mode): out = ⌊(in + padBegin + padEnd − dilation·(kernel − 1) − 1) / stride⌋ + 1.
/// </summary>
public readonly record struct Window2d(
    int KernelH, int KernelW,
    int StrideH = 1, int StrideW = 1,
    int PadTop = 0, int PadLeft = 0, int PadBottom = 0, int PadRight = 0,
    int DilationH = 1, int DilationW = 1)
{
    /// <summary>Rows the dilated kernel spans: dh·(kh − 1) + 1.</summary>
    public int EffectiveKernelH => DilationH * (KernelH - 1) + 1;
    /// <summary>Columns the dilated kernel spans: dw·(kw − 1) + 1.</summary>
    public int EffectiveKernelW => DilationW * (KernelW - 1) + 1;

    /// <summary>Throws when a field is out of range.</summary>
    public void Validate()
    {
        if (KernelH < 1 || KernelW < 1) throw new ArgumentException($"kernelSize must be >= 1; got ({KernelH}, {KernelW}).", "kernelSize");
        if (StrideH < 1 || StrideW < 1) throw new ArgumentException($"stride must be >= 1; got ({StrideH}, {StrideW}).", "stride");
        if (DilationH < 1 || DilationW < 1) throw new ArgumentException($"dilation must be >= 1; got ({DilationH}, {DilationW}).", "dilation");
        if (PadTop < 0 || PadLeft < 0 || PadBottom < 0 || PadRight < 0)
            throw new ArgumentException($"padding must be >= 0; got (top {PadTop}, left {PadLeft}, bottom {PadBottom}, right {PadRight}).", "padding");
    }

    /// <summary>
    /// Output extent along one axis. With <paramref name="ceilMode"/> the last window may start in the
    /// end padding but not beyond it (PyTorch's rule: a window must start inside the input or the begin padding).
    /// </summary>
    public static int OutputExtent(int input, int kernel, int stride, int padBegin, int padEnd, int dilation, bool ceilMode)
    {
        // long: sizes near int.MaxValue must not wrap into a small, wrong extent.
        long span = (long)input + padBegin + padEnd - ((long)dilation * (kernel - 1) + 1);
        if (span < 0) return 0;
        long o = (ceilMode ? (span + stride - 1) / stride : span / stride) + 1;
        if (ceilMode && (o - 1) * stride >= (long)input + padBegin) o--;
        return o <= int.MaxValue ? (int)o : throw new ArgumentException($"The output extent {o} is larger than {int.MaxValue}.", nameof(input));
    }

    /// <summary>
    /// The outputs o in [Begin, End) whose input index o·stride + offset lies in [0, extent): the part of a window
    /// row or column that reads the image rather than the padding (im2col, col2im and the depthwise kernel share it).
    /// </summary>
    public static (int Begin, int End) Inside(int offset, int stride, int extent, int outputs)
    {
        int begin = offset >= 0 ? 0 : Math.Min(outputs, (-offset + stride - 1) / stride);
        int end = extent - offset <= 0 ? 0 : Math.Min(outputs, (extent - offset + stride - 1) / stride);
        return (begin, Math.Max(begin, end));
    }

    /// <summary>Output (height, width) for a height×width input (see <see cref="OutputExtent"/>).</summary>
    public (int H, int W) OutputSize(int height, int width, bool ceilMode = false) =>
        (OutputExtent(height, KernelH, StrideH, PadTop, PadBottom, DilationH, ceilMode),
         OutputExtent(width, KernelW, StrideW, PadLeft, PadRight, DilationW, ceilMode));

    /// <summary>Output size, throwing when the (dilated) kernel does not fit the padded input.</summary>
    public (int H, int W) CheckedOutputSize(int height, int width, string paramName, bool ceilMode = false)
    {
        if (height + PadTop + PadBottom < EffectiveKernelH || width + PadLeft + PadRight < EffectiveKernelW)
            throw new ArgumentException(
                $"The effective kernel {EffectiveKernelH}x{EffectiveKernelW} is larger than the padded input " +
                $"{height + PadTop + PadBottom}x{width + PadLeft + PadRight} (input {height}x{width}).", paramName);
        return OutputSize(height, width, ceilMode);
    }
}
