using MLConv.Training.Kernels;

namespace MLConv.Tests.Kernels;

[TestClass]
public sealed class DepthwiseConvTests
{
    /// <summary>The direct depthwise kernel (forward, dW, db, dX) against naive loops on random non-square shapes.</summary>
    [TestMethod]
    [DataRow(2, 3, 7, 9, 2, 3, 2, 2, 1, 1, 1, 1)]
    [DataRow(3, 4, 8, 6, 1, 3, 3, 1, 2, 1, 2, 1)]
    [DataRow(1, 2, 9, 11, 3, 2, 2, 3, 1, 2, 1, 3)]
    [DataRow(2, 5, 23, 30, 1, 3, 3, 2, 2, 1, 1, 1)]   // MobileNetV2's stride-2 3x3: column phases, a partial last vector
    [DataRow(1, 6, 7, 7, 2, 3, 3, 1, 1, 1, 1, 1)]     // a 7x7 plane (narrower than one vector), multiplier 2
    [DataRow(1, 3, 12, 41, 1, 3, 3, 1, 1, 1, 1, 1)]   // wide rows: several whole vectors and a tail
    [DataRow(2, 2, 13, 17, 1, 5, 3, 3, 3, 2, 1, 2)]   // stride 3, dilation 2 across the columns
    public void ForwardAndBackwardMatchNaiveLoops(int n, int c, int h, int w, int mult, int kh, int kw, int sh, int sw, int ph, int dh, int dw)
    {
        var g = new Window2d(kh, kw, sh, sw, ph, ph, ph, ph, dh, dw);
        var (oh, ow) = g.OutputSize(h, w);
        var r = new Random(n * 100 + c);
        float[] R(int len) => [.. Enumerable.Range(0, len).Select(_ => (float)(r.NextDouble() * 2 - 1))];
        int cout = c * mult;
        var x = R(n * c * h * w); var wt = R(cout * kh * kw); var b = R(cout); var dy = R(n * cout * oh * ow);
        var y = new float[n * cout * oh * ow];
        DepthwiseConv.Forward(x, wt, b, y, n, c, h, w, mult, g, oh, ow);
        var dW = new float[wt.Length]; var db = new float[cout]; var dx = new float[x.Length];
        DepthwiseConv.Backward(x, wt, dy, dW, db, dx, n, c, h, w, mult, g, oh, ow);

        var ey = new double[y.Length]; var edW = new double[dW.Length]; var edx = new double[dx.Length]; var edb = new double[cout];
        for (int bi = 0; bi < n; bi++)
        for (int co = 0; co < cout; co++)
        for (int i = 0; i < oh; i++)
        for (int j = 0; j < ow; j++)
        {
            int o = ((bi * cout + co) * oh + i) * ow + j;
            ey[o] = b[co];
            edb[co] += dy[o];
            for (int u = 0; u < kh; u++)
            for (int v = 0; v < kw; v++)
            {
                int yy = i * sh - ph + u * dh, xx = j * sw - ph + v * dw;
                if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
                int xi = ((bi * c + co / mult) * h + yy) * w + xx, wi = (co * kh + u) * kw + v;
                ey[o] += wt[wi] * x[xi];
                edW[wi] += dy[o] * x[xi];
                edx[xi] += wt[wi] * dy[o];
            }
        }
        for (int i = 0; i < y.Length; i++) Assert.AreEqual(ey[i], y[i], 1e-4);
        for (int i = 0; i < dW.Length; i++) Assert.AreEqual(edW[i], dW[i], 1e-3);
        for (int i = 0; i < dx.Length; i++) Assert.AreEqual(edx[i], dx[i], 1e-4);
        for (int i = 0; i < cout; i++) Assert.AreEqual(edb[i], db[i], 1e-3);
    }

    /// <summary>
    /// Forward (with and without bias and ReLU), dW, db and dX against a double-precision loop for windows with separate
    /// paddings on all four sides: the 3x3 16-lane path (row stride 1 and 2, any column stride and dilation, planes
    /// narrower than a vector, rows not a multiple of 4, the transposed-forward dX) and the general path (5x5, 1x1, row
    /// dilation, stride 3, padding past the kernel).
    /// </summary>
    [TestMethod]
    //        n  c   h   w  m kh kw sh sw  pt pl pb pr dh dw
    [DataRow(2, 3, 13, 37, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1)]    // MobileNet stride 1, a 37-wide row: 2 blocks + a shifted one
    [DataRow(1, 4, 9, 16, 1, 3, 3, 1, 1, 0, 2, 1, 0, 1, 1)]     // asymmetric padding, exactly one block, 9 rows (groups of 4 + 1)
    [DataRow(2, 3, 23, 30, 1, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1)]    // MobileNet stride 2, odd height
    [DataRow(1, 2, 14, 35, 2, 3, 3, 2, 2, 0, 1, 1, 0, 1, 1)]    // stride 2, multiplier 2, asymmetric padding
    [DataRow(1, 3, 15, 21, 1, 3, 3, 2, 2, 0, 2, 1, 0, 1, 1)]    // stride 2, asymmetric padding: dX by output phase
    [DataRow(2, 2, 6, 5, 1, 3, 3, 2, 2, 3, 0, 2, 3, 1, 1)]      // stride 2, padding past the kernel, a 5-wide plane
    [DataRow(1, 4, 7, 7, 1, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1)]      // stride 2 on 7x7
    [DataRow(1, 2, 9, 70, 1, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1)]     // stride 2, rows of several vectors
    [DataRow(2, 5, 7, 7, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1)]      // a 7x7 plane: masked stores and loads
    [DataRow(1, 3, 2, 5, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1)]      // fewer rows than a group
    [DataRow(1, 2, 1, 1, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1)]      // a single pixel, multiplier 2
    [DataRow(1, 3, 11, 40, 1, 3, 3, 1, 2, 1, 0, 1, 2, 1, 1)]    // row stride 1, column stride 2
    [DataRow(1, 3, 12, 33, 1, 3, 3, 2, 1, 2, 1, 0, 1, 1, 1)]    // row stride 2, column stride 1
    [DataRow(1, 2, 10, 29, 1, 3, 3, 1, 1, 1, 2, 1, 2, 1, 2)]    // column dilation 2 (phases), stride 1
    [DataRow(2, 2, 10, 31, 1, 3, 3, 1, 3, 1, 2, 1, 2, 1, 2)]    // column stride 3, dilation 2
    [DataRow(1, 3, 17, 18, 1, 3, 3, 1, 1, 3, 0, 2, 3, 1, 1)]    // padding 3 on top: dX by the scatter
    [DataRow(1, 3, 12, 21, 1, 3, 3, 1, 1, 1, 1, 1, 1, 2, 2)]    // row dilation: the general path
    [DataRow(2, 3, 15, 19, 1, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1)]    // 5x5
    [DataRow(1, 4, 8, 9, 2, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1)]      // 1x1, multiplier 2
    [DataRow(1, 2, 16, 20, 1, 5, 3, 3, 2, 1, 2, 0, 1, 1, 1)]    // 5x3, strides 3 and 2
    public void AllPathsMatchNaiveLoopsWithAsymmetricPadding(int n, int c, int h, int w, int mult, int kh, int kw, int sh, int sw,
        int pt, int pl, int pb, int pr, int dh, int dw)
    {
        var g = new Window2d(kh, kw, sh, sw, pt, pl, pb, pr, dh, dw);
        var (oh, ow) = g.OutputSize(h, w);
        var r = new Random(n * 1000 + c * 100 + h + w);
        float[] R(int len) => [.. Enumerable.Range(0, len).Select(_ => (float)(r.NextDouble() * 2 - 1))];
        int cout = c * mult;
        var x = R(n * c * h * w); var wt = R(cout * kh * kw); var b = R(cout); var dy = R(n * cout * oh * ow);

        var ey = new double[n * cout * oh * ow]; var edW = new double[wt.Length]; var edx = new double[x.Length]; var edb = new double[cout];
        for (int bi = 0; bi < n; bi++)
        for (int co = 0; co < cout; co++)
        for (int i = 0; i < oh; i++)
        for (int j = 0; j < ow; j++)
        {
            int o = ((bi * cout + co) * oh + i) * ow + j;
            edb[co] += dy[o];
            for (int u = 0; u < kh; u++)
            for (int v = 0; v < kw; v++)
            {
                int yy = i * sh - pt + u * dh, xx = j * sw - pl + v * dw;
                if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
                int xi = ((bi * c + co / mult) * h + yy) * w + xx, wi = (co * kh + u) * kw + v;
                ey[o] += (double)wt[wi] * x[xi];
                edW[wi] += (double)dy[o] * x[xi];
                edx[xi] += (double)wt[wi] * dy[o];
            }
        }

        foreach (bool withBias in new[] { false, true })
        foreach (bool relu in new[] { false, true })
        {
            var y = new float[ey.Length];
            DepthwiseConv.Forward(x, wt, withBias ? b : null, y, n, c, h, w, mult, g, oh, ow, relu);
            for (int bi = 0; bi < n; bi++)
            for (int co = 0; co < cout; co++)
            for (int q = 0; q < oh * ow; q++)
            {
                int o = (bi * cout + co) * oh * ow + q;
                double e = ey[o] + (withBias ? b[co] : 0);
                Assert.AreEqual(relu ? Math.Max(e, 0) : e, y[o], 1e-5, $"y[{o}] bias {withBias} relu {relu}");
            }
        }

        var dW = new float[wt.Length]; var db = new float[cout]; var dx = R(x.Length);   // dX is overwritten, dW and db accumulate
        DepthwiseConv.Backward(x, wt, dy, dW, db, dx, n, c, h, w, mult, g, oh, ow);
        for (int i = 0; i < dW.Length; i++) Assert.AreEqual(edW[i], dW[i], 1e-4 * (1 + n * oh * ow), $"dW[{i}]");
        for (int i = 0; i < cout; i++) Assert.AreEqual(edb[i], db[i], 1e-4 * (1 + n * oh * ow), $"db[{i}]");
        for (int i = 0; i < dx.Length; i++) Assert.AreEqual(edx[i], dx[i], 1e-5, $"dx[{i}]");
        // Without dX: dW and db alone accumulate once more.
        DepthwiseConv.Backward(x, wt, dy, dW, db, null, n, c, h, w, mult, g, oh, ow);
        for (int i = 0; i < dW.Length; i++) Assert.AreEqual(2 * edW[i], dW[i], 2e-4 * (1 + n * oh * ow), $"2 dW[{i}]");
    }

    /// <summary>Forward, dW, db and dX are bit for bit the same with 1 and 2 threads (both paths, shapes large enough to run in parallel).</summary>
    [TestMethod]
    [DataRow(3, 24, 29, 45, 1, 3, 1, 1)]
    [DataRow(2, 16, 40, 38, 1, 3, 2, 1)]
    [DataRow(4, 40, 7, 7, 1, 3, 1, 1)]
    [DataRow(2, 12, 30, 31, 2, 5, 1, 2)]
    public void ResultsDoNotDependOnTheThreadCount(int n, int c, int h, int w, int mult, int k, int s, int p)
    {
        var g = new Window2d(k, k, s, s, p, p, p, p);
        var (oh, ow) = g.OutputSize(h, w);
        var r = new Random(7);
        float[] R(int len) => [.. Enumerable.Range(0, len).Select(_ => (float)(r.NextDouble() * 2 - 1))];
        int cout = c * mult;
        var x = R(n * c * h * w); var wt = R(cout * k * k); var b = R(cout); var dy = R(n * cout * oh * ow);
        (float[] Y, float[] DW, float[] DB, float[] DX) Run(int threads)
        {
            int saved = Parallelism.MaxThreads;
            Parallelism.MaxThreads = threads;
            try
            {
                var y = new float[n * cout * oh * ow]; var dW = new float[wt.Length]; var db = new float[cout]; var dx = new float[x.Length];
                DepthwiseConv.Forward(x, wt, b, y, n, c, h, w, mult, g, oh, ow, relu: true);
                DepthwiseConv.Backward(x, wt, dy, dW, db, dx, n, c, h, w, mult, g, oh, ow);
                return (y, dW, db, dx);
            }
            finally { Parallelism.MaxThreads = saved; }
        }
        var one = Run(1);
        var two = Run(2);
        CollectionAssert.AreEqual(one.Y, two.Y);
        CollectionAssert.AreEqual(one.DW, two.DW);
        CollectionAssert.AreEqual(one.DB, two.DB);
        CollectionAssert.AreEqual(one.DX, two.DX);
    }
}
