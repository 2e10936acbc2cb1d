namespace MLConv.Tests.Reference;

/// <summary>
/// Naive double-precision reference forwards, written from the definitions with plain loops and
/// independently of the fast kernels. Finite differences through them give the gradients that the
/// float32 backward passes are checked against.
/// </summary>
internal static class Naive
{
    public readonly record struct Geo(int Kh, int Kw, int Sh = 1, int Sw = 1, int Pt = 0, int Pl = 0, int Pb = 0, int Pr = 0, int Dh = 1, int Dw = 1);

    public static int Out(int input, int k, int s, int pb, int pe, int d, bool ceil = false)
    {
        double span = input + pb + pe - d * (k - 1) - 1;
        int o = (int)(ceil ? Math.Ceiling(span / s) : Math.Floor(span / s)) + 1;
        if (ceil && (o - 1) * s >= input + pb) o--;
        return o;
    }

    /// <summary>y[n,co,i,j] = b[co] + Σ_{ci in group, u, v} w[co, ci, u, v] · x[n, g·cg + ci, i·s − p + u·d, j·s − p + v·d].</summary>
    public static double[] Conv(double[] x, int n, int c, int h, int w, double[] wt, double[]? b, int cout, Geo g, int groups, out int oh, out int ow)
    {
        oh = Out(h, g.Kh, g.Sh, g.Pt, g.Pb, g.Dh);
        ow = Out(w, g.Kw, g.Sw, g.Pl, g.Pr, g.Dw);
        int cg = c / groups, og = cout / groups;
        var y = new double[n * cout * oh * ow];
        for (int b0 = 0; b0 < n; b0++)
        for (int co = 0; co < cout; co++)
        {
            int grp = co / og;
            for (int i = 0; i < oh; i++)
            for (int j = 0; j < ow; j++)
            {
                double acc = b is null ? 0 : b[co];
                for (int ci = 0; ci < cg; ci++)
                for (int u = 0; u < g.Kh; u++)
                for (int v = 0; v < g.Kw; v++)
                {
                    int yy = i * g.Sh - g.Pt + u * g.Dh, xx = j * g.Sw - g.Pl + v * g.Dw;
                    if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
                    acc += wt[((co * cg + ci) * g.Kh + u) * g.Kw + v] * x[((b0 * c + grp * cg + ci) * h + yy) * w + xx];
                }
                y[((b0 * cout + co) * oh + i) * ow + j] = acc;
            }
        }
        return y;
    }

    public enum PoolKind { Max, Min, Avg }

    public static double[] Pool(double[] x, int n, int c, int h, int w, Geo g, PoolKind kind, bool ceil, bool countIncludePad, out int oh, out int ow)
    {
        oh = Out(h, g.Kh, g.Sh, g.Pt, g.Pb, g.Dh, ceil);
        ow = Out(w, g.Kw, g.Sw, g.Pl, g.Pr, g.Dw, ceil);
        var y = new double[n * c * oh * ow];
        for (int p = 0; p < n * c; p++)
        for (int i = 0; i < oh; i++)
        for (int j = 0; j < ow; j++)
        {
            double best = kind == PoolKind.Max ? double.NegativeInfinity : double.PositiveInfinity, sum = 0;
            int inside = 0, padded = 0;
            for (int u = 0; u < g.Kh; u++)
            for (int v = 0; v < g.Kw; v++)
            {
                int yy = i * g.Sh - g.Pt + u * g.Dh, xx = j * g.Sw - g.Pl + v * g.Dw;
                if (yy < h + g.Pb && xx < w + g.Pr) padded++;
                if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
                double val = x[(p * h + yy) * w + xx];
                inside++;
                sum += val;
                if (kind == PoolKind.Max) best = Math.Max(best, val);
                if (kind == PoolKind.Min) best = Math.Min(best, val);
            }
            y[(p * oh + i) * ow + j] = kind == PoolKind.Avg ? sum / (countIncludePad ? padded : inside) : best;
        }
        return y;
    }

    /// <summary>Batch normalisation with batch statistics (training) or given statistics (inference).</summary>
    public static double[] BatchNorm(double[] x, int n, int c, int h, int w, double[] gamma, double[] beta, double eps, double[]? mean = null, double[]? var = null)
    {
        var y = new double[x.Length];
        int plane = h * w, m = n * plane;
        for (int ch = 0; ch < c; ch++)
        {
            double mu, sigma2;
            if (mean is null)
            {
                double s = 0;
                for (int b = 0; b < n; b++) for (int k = 0; k < plane; k++) s += x[(b * c + ch) * plane + k];
                mu = s / m;
                double q = 0;
                for (int b = 0; b < n; b++) for (int k = 0; k < plane; k++) { double d = x[(b * c + ch) * plane + k] - mu; q += d * d; }
                sigma2 = q / m;
            }
            else { mu = mean[ch]; sigma2 = var![ch]; }
            for (int b = 0; b < n; b++)
            for (int k = 0; k < plane; k++)
            {
                int idx = (b * c + ch) * plane + k;
                y[idx] = gamma[ch] * (x[idx] - mu) / Math.Sqrt(sigma2 + eps) + beta[ch];
            }
        }
        return y;
    }

    public static double[] Linear(double[] x, int n, int fin, double[] wt, double[]? b, int fout)
    {
        var y = new double[n * fout];
        for (int i = 0; i < n; i++)
        for (int o = 0; o < fout; o++)
        {
            double acc = b is null ? 0 : b[o];
            for (int k = 0; k < fin; k++) acc += x[i * fin + k] * wt[o * fin + k];
            y[i * fout + o] = acc;
        }
        return y;
    }

    public static double[] Relu(double[] x) => [.. x.Select(v => Math.Max(v, 0))];

    public static double[] GlobalAvg(double[] x, int planes, int plane)
    {
        var y = new double[planes];
        for (int p = 0; p < planes; p++) { double s = 0; for (int k = 0; k < plane; k++) s += x[p * plane + k]; y[p] = s / plane; }
        return y;
    }

    public static double[] Add(double[] a, double[] b) => [.. a.Select((v, i) => v + b[i])];

    /// <summary>Concatenation along <paramref name="axis"/>: y[o, off_i + k, r] = x_i[o, k, r], by explicit multi-indices.</summary>
    public static double[] Concat(double[][] xs, int[][] shapes, int axis)
    {
        int[] yShape = (int[])shapes[0].Clone();
        yShape[axis] = shapes.Sum(s => s[axis]);
        var y = new double[yShape.Aggregate(1, (a, b) => a * b)];
        int offset = 0;
        for (int i = 0; i < xs.Length; i++)
        {
            for (int flat = 0; flat < xs[i].Length; flat++)
            {
                var idx = Unravel(flat, shapes[i]);
                idx[axis] += offset;
                y[Ravel(idx, yShape)] = xs[i][flat];
            }
            offset += shapes[i][axis];
        }
        return y;
    }

    /// <summary>
    /// ONNX LRN: y[n,c,p] = x[n,c,p] / (k + α/size · Σ_{i = max(0, c − ⌊(size−1)/2⌋)}^{min(C−1, c + ⌈(size−1)/2⌉)} x[n,i,p]²)^β.
    /// </summary>
    public static double[] Lrn(double[] x, int n, int c, int plane, int size, double alpha, double beta, double k)
    {
        var y = new double[x.Length];
        int before = (int)Math.Floor((size - 1) / 2.0), after = (int)Math.Ceiling((size - 1) / 2.0);
        for (int b = 0; b < n; b++)
        for (int ch = 0; ch < c; ch++)
        for (int p = 0; p < plane; p++)
        {
            double sq = 0;
            for (int i = Math.Max(0, ch - before); i <= Math.Min(c - 1, ch + after); i++)
            {
                double v = x[(b * c + i) * plane + p];
                sq += v * v;
            }
            int at = (b * c + ch) * plane + p;
            y[at] = x[at] / Math.Pow(k + alpha / size * sq, beta);
        }
        return y;
    }

    /// <summary>Axis permutation: y[i_0, …] = x[j] with j[perm[k]] = i_k, by explicit multi-indices.</summary>
    public static double[] Transpose(double[] x, int[] shape, int[] perm)
    {
        int[] yShape = [.. perm.Select(p => shape[p])];
        var y = new double[x.Length];
        for (int flat = 0; flat < y.Length; flat++)
        {
            var i = Unravel(flat, yShape);
            var j = new int[shape.Length];
            for (int k = 0; k < perm.Length; k++) j[perm[k]] = i[k];
            y[flat] = x[Ravel(j, shape)];
        }
        return y;
    }

    public static double[] Sum(params double[][] xs) => [.. xs[0].Select((_, i) => xs.Sum(x => x[i]))];

    private static int[] Unravel(int flat, int[] shape)
    {
        var idx = new int[shape.Length];
        for (int d = shape.Length - 1; d >= 0; d--) { idx[d] = flat % shape[d]; flat /= shape[d]; }
        return idx;
    }

    private static int Ravel(int[] idx, int[] shape)
    {
        int flat = 0;
        for (int d = 0; d < shape.Length; d++) flat = flat * shape[d] + idx[d];
        return flat;
    }

    /// <summary>Row-wise softmax (or log-softmax) of [n, k] in double.</summary>
    public static double[] Softmax(double[] z, int n, int k, bool log)
    {
        var y = new double[z.Length];
        for (int i = 0; i < n; i++)
        {
            double m = double.NegativeInfinity;
            for (int j = 0; j < k; j++) m = Math.Max(m, z[i * k + j]);
            double s = 0;
            for (int j = 0; j < k; j++) s += Math.Exp(z[i * k + j] - m);
            for (int j = 0; j < k; j++) y[i * k + j] = log ? z[i * k + j] - m - Math.Log(s) : Math.Exp(z[i * k + j] - m) / s;
        }
        return y;
    }

    /// <summary>Mean softmax cross-entropy in double.</summary>
    public static double CrossEntropy(double[] z, int n, int k, int[] labels)
    {
        double loss = 0;
        for (int i = 0; i < n; i++)
        {
            double m = double.NegativeInfinity;
            for (int j = 0; j < k; j++) m = Math.Max(m, z[i * k + j]);
            double s = 0;
            for (int j = 0; j < k; j++) s += Math.Exp(z[i * k + j] - m);
            loss += Math.Log(s) + m - z[i * k + labels[i]];
        }
        return loss / n;
    }
}
