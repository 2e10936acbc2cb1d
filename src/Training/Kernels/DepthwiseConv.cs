using System.Numerics.Tensors;

namespace MLConv.Training.Kernels;

/// <summary>
/// Direct depthwise convolution (groups = C_in, C_out = m·C_in): output channel co reads only input
/// channel co / m, so im2col + GEMM would run GEMMs of one row; this kernel walks the planes instead.
///   y[n, co, i, j]  = b[co] + Σ_{u,v} w[co, u, v] · x[n, co/m, i·sh − pt + u·dh, j·sw − pl + v·dw]
///   dW[co, u, v]   += Σ_{n,i,j} dy[n, co, i, j] · x[n, co/m, …]
///   dx[n, co/m, …] += Σ_{u,v} w[co, u, v] · dy[n, co, i, j]
/// Work is split by plane (forward, dx) and by output channel (dW, a fixed order over n): deterministic.
/// </summary>
public static class DepthwiseConv
{
    /// <summary>Columns j whose source column j·s + offset lies in [0, width).</summary>
    private static (int Begin, int End) Valid(int offset, int stride, int width, int outW)
    {
        int begin = offset >= 0 ? 0 : Math.Min(outW, (-offset + stride - 1) / stride);
        int end = width - offset <= 0 ? 0 : Math.Min(outW, (width - offset + stride - 1) / stride);
        return (begin, Math.Max(begin, end));
    }

    public static void Forward(float[] x, float[] w, float[]? bias, float[] y, int n, int channels, int height, int width,
        int multiplier, Window2d g, int outH, int outW)
    {
        int cout = channels * multiplier, inPlane = height * width, outPlane = outH * outW, taps = g.KernelH * g.KernelW;
        Parallelism.For(n * cout, (long)outPlane * taps, p =>
        {
            int b = p / cout, co = p % cout, ci = co / multiplier;
            var src = x.AsSpan((b * channels + ci) * inPlane, inPlane);
            var dst = y.AsSpan(p * outPlane, outPlane);
            dst.Fill(bias?[co] ?? 0f);
            for (int u = 0; u < g.KernelH; u++)
            for (int v = 0; v < g.KernelW; v++)
            {
                float wt = w[co * taps + u * g.KernelW + v];
                int dx = v * g.DilationW - g.PadLeft;
                var (j0, j1) = Valid(dx, g.StrideW, width, outW);
                if (j1 <= j0) continue;
                for (int i = 0; i < outH; i++)
                {
                    int yy = i * g.StrideH - g.PadTop + u * g.DilationH;
                    if ((uint)yy >= (uint)height) continue;
                    var row = src.Slice(yy * width, width);
                    var o = dst.Slice(i * outW, outW);
                    if (g.StrideW == 1)
                        TensorPrimitives.MultiplyAdd(row.Slice(j0 + dx, j1 - j0), wt, o[j0..j1], o[j0..j1]);
                    else
                        for (int j = j0; j < j1; j++) o[j] += wt * row[j * g.StrideW + dx];
                }
            }
        });
    }

    /// <summary>Accumulates dW (and db) and, when <paramref name="dxOut"/> is given, writes dX (cleared first).</summary>
    public static void Backward(float[] x, float[] w, float[] dy, float[] dw, float[]? db, float[]? dxOut, int n, int channels, int height, int width,
        int multiplier, Window2d g, int outH, int outW)
    {
        int cout = channels * multiplier, inPlane = height * width, outPlane = outH * outW, taps = g.KernelH * g.KernelW;
        Parallelism.For(cout, (long)n * outPlane * taps, co =>
        {
            int ci = co / multiplier;
            for (int b = 0; b < n; b++)
            {
                var src = x.AsSpan((b * channels + ci) * inPlane, inPlane);
                var d = dy.AsSpan((b * cout + co) * outPlane, outPlane);
                if (db is not null) db[co] += TensorPrimitives.Sum(d);
                for (int u = 0; u < g.KernelH; u++)
                for (int v = 0; v < g.KernelW; v++)
                {
                    int dx = v * g.DilationW - g.PadLeft;
                    var (j0, j1) = Valid(dx, g.StrideW, width, outW);
                    if (j1 <= j0) continue;
                    float acc = 0f;
                    for (int i = 0; i < outH; i++)
                    {
                        int yy = i * g.StrideH - g.PadTop + u * g.DilationH;
                        if ((uint)yy >= (uint)height) continue;
                        var row = src.Slice(yy * width, width);
                        var dr = d.Slice(i * outW, outW);
                        if (g.StrideW == 1) acc += TensorPrimitives.Dot(row.Slice(j0 + dx, j1 - j0), dr[j0..j1]);
                        else for (int j = j0; j < j1; j++) acc += dr[j] * row[j * g.StrideW + dx];
                    }
                    dw[co * taps + u * g.KernelW + v] += acc;
                }
            }
        });
        if (dxOut is null) return;
        // dX per input plane: its m output channels, in channel order.
        Parallelism.For(n * channels, (long)multiplier * outPlane * taps, p =>
        {
            int b = p / channels, ci = p % channels;
            var dst = dxOut.AsSpan(p * inPlane, inPlane);
            dst.Clear();
            for (int k = 0; k < multiplier; k++)
            {
                int co = ci * multiplier + k;
                var d = dy.AsSpan((b * cout + co) * outPlane, outPlane);
                for (int u = 0; u < g.KernelH; u++)
                for (int v = 0; v < g.KernelW; v++)
                {
                    float wt = w[co * taps + u * g.KernelW + v];
                    int dx = v * g.DilationW - g.PadLeft;
                    var (j0, j1) = Valid(dx, g.StrideW, width, outW);
                    if (j1 <= j0) continue;
                    for (int i = 0; i < outH; i++)
                    {
                        int yy = i * g.StrideH - g.PadTop + u * g.DilationH;
                        if ((uint)yy >= (uint)height) continue;
                        var row = dst.Slice(yy * width, width);
                        var dr = d.Slice(i * outW, outW);
                        if (g.StrideW == 1)
                            TensorPrimitives.MultiplyAdd(dr[j0..j1], wt, row.Slice(j0 + dx, j1 - j0), row.Slice(j0 + dx, j1 - j0));
                        else
                            for (int j = j0; j < j1; j++) row[j * g.StrideW + dx] += wt * dr[j];
                    }
                }
            }
        });
    }
}
