using System.Buffers;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace MLConv.Training.Kernels;

/// <summary>
/// Grouped 2-D convolution by <see cref="Im2Col"/> + <see cref="Gemm"/> (+ <see cref="Col2Im"/>), with its scheduling.
/// Per group g, for a block of samples whose columns (Rows × block·P, P = outH·outW) stay in cache — or, for one large
/// image, per band of output rows (the band's columns, its GEMMs writing into y with row stride P, its col2im):
///   forward   Y_g = W_g · cols_g + b
///   backward  dW_g += dY_g · cols_gᵀ,   db += Σ dY,   dX = col2im(W_gᵀ · dY_g)
/// Blocks are independent in forward and in dX and go to different threads when there are enough of them;
/// otherwise each GEMM spreads over the threads. dW and db are reduced in a fixed order (see <see cref="Backward"/>),
/// so results do not depend on the thread count. The weights are packed for the GEMM once per call.
/// Layouts: x [n, inChannels, height, width], w [outChannels, inChannels/groups, kh, kw], y [n, outChannels, outH, outW].
/// </summary>
public static class ConvGemm
{
    /// <summary>y = W ⋆ x + b; with <paramref name="relu"/>, y = max(W ⋆ x + b, 0), applied to each block's output while it is in cache.</summary>
    public static void Forward(float[] x, float[] w, float[]? bias, float[] y, int n, int inChannels, int height, int width,
        int outChannels, int groups, Window2d g, int outH, int outW, bool relu = false) =>
        Forward(x, w, bias, y, n, inChannels, height, width, outChannels, groups, g, outH, outW, relu, null);

    /// <summary>As the public overload, with the weights already packed by <see cref="PackForward"/> (then <paramref name="w"/> is not read).</summary>
    internal static void Forward(float[] x, float[] w, float[]? bias, float[] y, int n, int inChannels, int height, int width,
        int outChannels, int groups, Window2d g, int outH, int outW, bool relu, PackedWeights? prepacked)
    {
        var s = new Shapes(n, inChannels, height, width, outChannels, groups, g, outH, outW);
        int blocks = s.Blocks;
        bool perBlock = blocks >= Parallelism.MaxThreads;
        if (prepacked is not null && !prepacked.Fits(groups, s.Mg, s.Kg, transpose: false))
            throw new ArgumentException($"The pre-packed weights are not those of a {outChannels}x{inChannels / groups}x{g.KernelH}x{g.KernelW} convolution with {groups} groups.", nameof(prepacked));
        using var owned = prepacked is null ? new PackedWeights(w, s.Groups, s.Mg, s.Kg, transpose: false) : null;
        var packed = prepacked ?? owned!;
        Parallelism.For(blocks, perBlock ? s.Work * s.Block : 0, new ForwardJob(s, x, bias, y, packed, relu, perBlock),
            static (in ForwardJob j, int b) => ForwardBlock(j, b));
    }

    /// <summary>What every block of one forward reads (a static loop body then captures nothing).</summary>
    private readonly record struct ForwardJob(Shapes S, float[] X, float[]? Bias, float[] Y, PackedWeights Packed, bool Relu, bool PerBlock);

    /// <summary>Block b of the forward: its samples' columns, the GEMMs, the ReLU; GEMMs and im2col spread over the threads unless blocks are.</summary>
    private static void ForwardBlock(in ForwardJob j, int b)
    {
        var s = j.S;
        float[] x = j.X, y = j.Y;
        float[]? bias = j.Bias;
        int outChannels = s.OutChannels;
        bool parallel = !j.PerBlock;
        using var scratch = new Scratch();
        int i0 = b * s.Block, count = Math.Min(s.Block, s.N - i0), cw = count * s.P;
        if (s.Bands > 1)
        {
            ForwardBands(s, x, bias, y, i0, j.Packed, j.Relu, scratch, parallel);
            return;
        }
        var buffer = scratch.Get(s.Direct ? 0 : s.Rows * cw + (count > 1 ? outChannels * cw : 0));
        var cols = s.Columns(x, i0, count, buffer, parallel);
        // One sample: the GEMM writes straight into y. Several: into a (Cout × block·P) scratch, then scattered.
        var outM = count == 1 ? y.AsSpan(i0 * outChannels * s.P, outChannels * s.P) : buffer.AsSpan(s.Rows * cw, outChannels * cw);
        for (int co = 0; co < outChannels; co++) outM.Slice(co * cw, cw).Fill(bias?[co] ?? 0f);
        for (int gi = 0; gi < s.Groups; gi++)
            Gemm.Multiply(j.Packed[gi], false, cw, 1f, cols.Slice(gi * s.Kg * cw), cw, 1f, outM.Slice(gi * s.Mg * cw), cw, parallel);
        if (j.Relu) Rectify(outM, outChannels * cw, parallel);
        if (count > 1)
            for (int k = 0; k < count; k++)
            for (int co = 0; co < outChannels; co++)
                outM.Slice(co * cw + k * s.P, s.P).CopyTo(y.AsSpan(((i0 + k) * outChannels + co) * s.P, s.P));
    }

    /// <summary>
    /// One large image, band by band: the columns of a band of output rows, then W · cols straight into y (row stride P).
    /// With <paramref name="parallel"/> (a batch too small to spread samples over the threads) the bands go to different
    /// threads, each running its im2col and GEMMs alone; either way every output element is computed the same way.
    /// </summary>
    private static void ForwardBands(in Shapes s, float[] x, float[]? bias, float[] y, int i, PackedWeights packed, bool relu, Scratch scratch, bool parallel)
    {
        if (parallel && Parallelism.MaxThreads > 1 && s.Bands > 1)
        {
            Parallelism.For(s.Bands, s.Work / s.Bands, (Job: new ForwardJob(s, x, bias, y, packed, relu, false), Image: i),
                static (in (ForwardJob Job, int Image) t, int band) =>
            {
                using var own = new Scratch();
                var j = t.Job;
                ForwardBand(j.S, j.X, j.Bias, j.Y, t.Image, j.Packed, j.Relu, band * j.S.BandRows, own);
            });
            return;
        }
        for (int r0 = 0; r0 < s.OutH; r0 += s.BandRows) ForwardBand(s, x, bias, y, i, packed, relu, r0, scratch);
    }

    /// <summary>Output rows [r0, r0 + BandRows) of sample i: bias, W · cols_band, ReLU, on the calling thread.</summary>
    private static void ForwardBand(in Shapes s, float[] x, float[]? bias, float[] y, int i, PackedWeights packed, bool relu, int r0, Scratch scratch)
    {
        int cout = s.OutChannels, plane = s.Channels * s.H * s.W;
        int r1 = Math.Min(s.OutH, r0 + s.BandRows), bp = (r1 - r0) * s.OutW, off = r0 * s.OutW;
        var ys = y.AsSpan(i * cout * s.P, cout * s.P);
        for (int co = 0; co < cout; co++) ys.Slice(co * s.P + off, bp).Fill(bias?[co] ?? 0f);
        var cols = scratch.Get(s.Rows * s.BandRows * s.OutW)!.AsSpan(0, s.Rows * bp);
        s.BandColumns(x.AsSpan(i * plane, plane), r0, r1, cols, parallel: false);
        for (int gi = 0; gi < s.Groups; gi++)
            Gemm.Multiply(packed[gi], false, bp, 1f, cols.Slice(gi * s.Kg * bp), bp, 1f, ys.Slice(gi * s.Mg * s.P + off), s.P, parallel: false);
        if (relu)
            for (int co = 0; co < cout; co++)
            {
                var row = ys.Slice(co * s.P + off, bp);
                TensorPrimitives.Max(row, 0f, row);
            }
    }

    /// <summary>v = max(v, 0) over the first <paramref name="length"/> values, split over the threads when asked (element-wise: any split gives the same result).</summary>
    private static unsafe void Rectify(Span<float> v, int length, bool parallel)
    {
        int parts = parallel ? Math.Min(Parallelism.MaxThreads, Math.Max(1, length / 16384)) : 1;
        if (parts <= 1) { TensorPrimitives.Max(v[..length], 0f, v[..length]); return; }
        fixed (float* p = v)
        {
            nint ip = (nint)p;
            int per = (length + parts - 1) / parts;
            Parallelism.For(parts, per, (Data: ip, Per: per, Length: length), static (in (nint Data, int Per, int Length) t, int i) =>
            {
                int a = i * t.Per, len = Math.Min(t.Per, t.Length - a);
                var span = new Span<float>((float*)t.Data + a, len);
                TensorPrimitives.Max(span, 0f, span);
            });
        }
    }

    /// <summary>
    /// Accumulates dW (and db when given) and, when <paramref name="dx"/> is given, writes dX.
    /// The sample blocks fall into at most 8 consecutive groups (a number that depends on the shapes only); each group
    /// sums its blocks' dW and db in order into its own buffer, and the buffers are added in group order.
    /// </summary>
    public static void Backward(float[] x, float[] w, float[] dy, float[] dw, float[]? db, float[]? dx, int n, int inChannels,
        int height, int width, int outChannels, int groups, Window2d g, int outH, int outW)
    {
        var s = new Shapes(n, inChannels, height, width, outChannels, groups, g, outH, outW);
        int wLen = outChannels * s.Kg, pLen = wLen + (db is null ? 0 : outChannels);
        int blocks = s.Blocks, parts = Math.Min(blocks, 8), perPart = (blocks + parts - 1) / parts;
        parts = (blocks + perPart - 1) / perPart;
        bool perPartThreads = parts >= Parallelism.MaxThreads;
        var partial = ArrayPool<float>.Shared.Rent(parts * pLen);
        try
        {
            using var packedT = dx is null ? null : new PackedWeights(w, s.Groups, s.Mg, s.Kg, transpose: true);
            Parallelism.For(parts, perPartThreads ? s.Work * 2 * perPart * s.Block : 0, part =>
            {
                using var scratch = new Scratch();
                partial.AsSpan(part * pLen, pLen).Clear();   // by the thread that fills it
                var dwPart = partial.AsSpan(part * pLen, wLen);
                var dbPart = partial.AsSpan(part * pLen + wLen, pLen - wLen);
                for (int b = part * perPart; b < Math.Min(blocks, (part + 1) * perPart); b++)
                    BackwardBlock(s, b, x, dy, dx, packedT, dwPart, dbPart, scratch, parallel: !perPartThreads);
            });
            SumParts(partial, parts, pLen, dw, wLen);
            if (db is not null)
                for (int part = 0; part < parts; part++)
                    TensorPrimitives.Add(db.AsSpan(0, outChannels), partial.AsSpan(part * pLen + wLen, outChannels), db.AsSpan(0, outChannels));
        }
        finally { ArrayPool<float>.Shared.Return(partial); }
    }

    /// <summary>
    /// dw[0:len] += Σ_part partial[part·stride …], parts added in order for every element; large weights in chunks on
    /// several threads (each element still sums its parts in the same order: the same result).
    /// </summary>
    private static void SumParts(float[] partial, int parts, int stride, float[] dw, int len)
    {
        const int Chunk = 1 << 15;
        int chunks = (len + Chunk - 1) / Chunk;
        Parallelism.For(chunks, (long)Chunk * parts, c =>
        {
            int a = c * Chunk, n = Math.Min(Chunk, len - a);
            var target = dw.AsSpan(a, n);
            for (int part = 0; part < parts; part++) TensorPrimitives.Add(target, partial.AsSpan(part * stride + a, n), target);
        });
    }

    /// <summary>Sample block b: dW += dY·colsᵀ and db += Σ dY into the part's buffers; dX of its samples when asked for.</summary>
    private static void BackwardBlock(in Shapes s, int b, float[] x, float[] dy, float[]? dx, PackedWeights? packedT,
        Span<float> dw, Span<float> db, Scratch scratch, bool parallel)
    {
        int cout = s.OutChannels, i0 = b * s.Block, count = Math.Min(s.Block, s.N - i0), cw = count * s.P, plane = s.Channels * s.H * s.W;
        if (s.Bands > 1)
        {
            BackwardBands(s, i0, x, dy, dx, packedT, dw, db, scratch, parallel);
            return;
        }
        var buffer = scratch.Get(s.Direct ? 0 : 2 * s.Rows * cw + (count > 1 ? cout * cw : 0));
        var cols = s.Columns(x, i0, count, buffer, parallel);
        // dY of the block as a (Cout × block·P) matrix: the sample's own slice, or gathered.
        Span<float> dyM = dy.AsSpan(i0 * cout * s.P, cout * s.P);
        if (count > 1)
        {
            dyM = buffer.AsSpan(2 * s.Rows * cw, cout * cw);
            for (int k = 0; k < count; k++)
            for (int co = 0; co < cout; co++)
                dy.AsSpan(((i0 + k) * cout + co) * s.P, s.P).CopyTo(dyM.Slice(co * cw + k * s.P, s.P));
        }
        for (int co = 0; co < db.Length; co++) db[co] += TensorPrimitives.Sum(dyM.Slice(co * cw, cw));
        for (int gi = 0; gi < s.Groups; gi++)
            Gemm.Multiply(false, true, s.Mg, s.Kg, cw, 1f, dyM.Slice(gi * s.Mg * cw), cw, cols.Slice(gi * s.Kg * cw), cw,
                1f, dw.Slice(gi * s.Mg * s.Kg), s.Kg, parallel);
        if (dx is null) return;
        // dCols = Wᵀ · dY, folded back onto each image (col2im); for a direct 1x1 conv dCols is dX itself.
        var dCols = s.Direct ? dx.AsSpan(i0 * plane, plane) : buffer.AsSpan(s.Rows * cw, s.Rows * cw);
        for (int gi = 0; gi < s.Groups; gi++)
            Gemm.Multiply(packedT![gi], false, cw, 1f, dyM.Slice(gi * s.Mg * cw), cw, 0f, dCols.Slice(gi * s.Kg * cw), cw, parallel);
        if (s.Direct) return;
        for (int k = 0; k < count; k++)
        {
            var dxk = dx.AsSpan((i0 + k) * plane, plane);
            dxk.Clear();
            Col2Im.Run(dCols.Slice(k * s.P), cw, s.Channels, s.H, s.W, s.G, s.OutH, s.OutW, dxk);
        }
    }

    /// <summary>
    /// Backward of one large image band by band: dW += dY_band · cols_bandᵀ, db += Σ dY_band, dX += col2im(Wᵀ · dY_band),
    /// dY_band being columns [r0·outW, r1·outW) of the sample's (Cout × P) dY. Bands are summed in order.
    /// </summary>
    private static void BackwardBands(in Shapes s, int i, float[] x, float[] dy, float[]? dx, PackedWeights? packedT,
        Span<float> dw, Span<float> db, Scratch scratch, bool parallel)
    {
        int cout = s.OutChannels, plane = s.Channels * s.H * s.W, bandMax = s.BandRows * s.OutW;
        var buffer = scratch.Get(2 * s.Rows * bandMax)!;
        var dys = dy.AsSpan(i * cout * s.P, cout * s.P);
        var image = x.AsSpan(i * plane, plane);
        var dxs = dx is null ? default : dx.AsSpan(i * plane, plane);
        if (dx is not null) dxs.Clear();
        for (int co = 0; co < db.Length; co++) db[co] += TensorPrimitives.Sum(dys.Slice(co * s.P, s.P));
        for (int r0 = 0; r0 < s.OutH; r0 += s.BandRows)
        {
            int r1 = Math.Min(s.OutH, r0 + s.BandRows), bp = (r1 - r0) * s.OutW, off = r0 * s.OutW;
            var cols = buffer.AsSpan(0, s.Rows * bp);
            s.BandColumns(image, r0, r1, cols, parallel);
            for (int gi = 0; gi < s.Groups; gi++)
                Gemm.Multiply(false, true, s.Mg, s.Kg, bp, 1f, dys.Slice(gi * s.Mg * s.P + off), s.P, cols.Slice(gi * s.Kg * bp), bp,
                    1f, dw.Slice(gi * s.Mg * s.Kg), s.Kg, parallel);
            if (dx is null) continue;
            var dCols = buffer.AsSpan(s.Rows * bandMax, s.Rows * bp);
            for (int gi = 0; gi < s.Groups; gi++)
                Gemm.Multiply(packedT![gi], false, bp, 1f, dys.Slice(gi * s.Mg * s.P + off), s.P, 0f, dCols.Slice(gi * s.Kg * bp), bp, parallel);
            Col2Im.Run(dCols, bp, s.Channels, s.H, s.W, s.G, s.OutH, s.OutW, dxs, r0, r1);
        }
    }

    /// <summary>
    /// GEMM sizes: P output pixels per sample, Kg = Cin/groups·kh·kw, Mg = Cout/groups; <see cref="Block"/> samples share one
    /// column matrix (Rows × Block·P) so that small images still give GEMMs of ~512 columns, as long as it stays ≤ 256 KiB
    /// (≤ 8 MiB when one sample alone would give fewer than 256); a large image instead runs in bands of output rows
    /// (<see cref="BandRows"/>), so that a band's columns are still in cache when its GEMMs read them.
    /// </summary>
    private readonly struct Shapes
    {
        public readonly int N, P, Kg, Mg, Rows, Groups, Channels, OutChannels, H, W, OutH, OutW, Block;
        public readonly Window2d G;
        /// <summary>1x1, stride 1, no padding: the image (C × H·W) already is the column matrix.</summary>
        public readonly bool Direct;
        public readonly long Work;

        public Shapes(int n, int inChannels, int h, int w, int outChannels, int groups, Window2d g, int oh, int ow)
        {
            N = n; G = g; Groups = groups;
            P = oh * ow;
            Kg = inChannels / groups * g.KernelH * g.KernelW;
            Mg = outChannels / groups;
            Rows = Kg * groups;
            Channels = inChannels; OutChannels = outChannels; H = h; W = w; OutH = oh; OutW = ow;
            Direct = g.KernelH == 1 && g.KernelW == 1 && g.StrideH == 1 && g.StrideW == 1
                && g.PadTop == 0 && g.PadLeft == 0 && g.PadBottom == 0 && g.PadRight == 0;
            Work = (long)outChannels * P * Kg;
            Block = Direct ? 1 : Math.Max(1, Math.Min(n, Math.Min(512 / P, (64 * 1024) / Math.Max(1, Rows * P))));
            // Small outputs of deep layers (ResNet's 7x7 at 4608 rows): a sample alone gives GEMMs of < 64 columns, K that
            // short for dW; blocks of samples give ≥ 256 columns as long as their columns stay under 2 M floats.
            if (!Direct && Block * P < 256)
                Block = Math.Max(Block, Math.Min(n, Math.Min((256 + P - 1) / P, 2 * 1024 * 1024 / Math.Max(1, Rows * P))));
            Block = (n + (n + Block - 1) / Block - 1) / ((n + Block - 1) / Block);   // as many blocks, evened out
            // A large image's columns (Rows × P) would leave the cache between im2col and the GEMM: it runs in bands of
            // whole output rows, each ≥ 256 pixels (GEMMs wide enough to keep the kernel busy) or ~96 K floats of columns.
            BandRows = oh;
            if (!Direct && Block == 1 && (long)Rows * P > 96 * 1024)
            {
                int pixels = Math.Max(256, 96 * 1024 / Math.Max(1, Rows));
                BandRows = Math.Clamp((pixels + ow - 1) / Math.Max(1, ow), 1, oh);
            }
        }

        /// <summary>Output rows per band (<see cref="OutH"/> when the image runs whole).</summary>
        public readonly int BandRows;

        /// <summary>Bands per image.</summary>
        public int Bands => (OutH + BandRows - 1) / BandRows;

        public int Blocks => (N + Block - 1) / Block;

        /// <summary>
        /// The column matrix (Rows × count·P) of samples [i0, i0 + count): sample k fills columns [k·P, (k + 1)·P). A direct
        /// conv (count 1) uses the image itself; otherwise im2col writes into <paramref name="buffer"/>. With
        /// <paramref name="parallel"/> a single image's channels are unfolded on several threads (a pure copy: same result).
        /// </summary>
        public Span<float> Columns(float[] x, int i0, int count, float[]? buffer, bool parallel)
        {
            int size = Channels * H * W;
            if (Direct) return x.AsSpan(i0 * size, size);
            var cols = buffer.AsSpan(0, Rows * count * P);
            int parts = parallel && count == 1 ? Math.Min(Parallelism.MaxThreads, Channels) : 1;
            if (parts > 1 && (long)Rows * P >= 1 << 16)
            {
                BandColumnsParallel(x.AsSpan(i0 * size, size), 0, OutH, cols, parts);
                return cols;
            }
            for (int k = 0; k < count; k++)
                Im2Col.Run(x.AsSpan((i0 + k) * size, size), Channels, H, W, G, OutH, OutW, cols.Slice(k * P), count * P);
            return cols;
        }

        /// <summary>The columns (Rows × band pixels) of output rows [r0, r1) of one image; with <paramref name="parallel"/> its channels are split over the threads.</summary>
        public void BandColumns(ReadOnlySpan<float> image, int r0, int r1, Span<float> cols, bool parallel)
        {
            int bp = (r1 - r0) * OutW;
            int parts = parallel ? Math.Min(Parallelism.MaxThreads, Channels) : 1;
            if (parts <= 1 || (long)Rows * bp < 1 << 15)
            {
                Im2Col.Run(image, Channels, H, W, G, OutH, OutW, cols, bp, r0, r1);
                return;
            }
            BandColumnsParallel(image, r0, r1, cols, parts);
        }

        private unsafe void BandColumnsParallel(ReadOnlySpan<float> image, int r0, int r1, Span<float> cols, int parts)
        {
            int per = (Channels + parts - 1) / parts, taps = G.KernelH * G.KernelW, bp = (r1 - r0) * OutW;
            var s = this;
            fixed (float* pi = image, pc = cols)
            {
                nint ii = (nint)pi, ic = (nint)pc;
                Parallelism.For(parts, (long)per * taps * bp, (S: s, Image: ii, Cols: ic, Per: per, R0: r0, R1: r1),
                    static (in (Shapes S, nint Image, nint Cols, int Per, int R0, int R1) t, int part) =>
                {
                    var s = t.S;
                    int c0 = part * t.Per, c1 = Math.Min(s.Channels, c0 + t.Per), taps = s.G.KernelH * s.G.KernelW, plane = s.H * s.W, bp = (t.R1 - t.R0) * s.OutW;
                    if (c0 >= c1) return;
                    Im2Col.Run(new ReadOnlySpan<float>((float*)t.Image + c0 * plane, (c1 - c0) * plane), c1 - c0, s.H, s.W, s.G, s.OutH, s.OutW,
                        new Span<float>((float*)t.Cols + (long)c0 * taps * bp, (c1 - c0) * taps * bp), bp, t.R0, t.R1);
                });
            }
        }
    }

    /// <summary>
    /// The weights [outChannels, inChannels/groups, kh, kw] packed for the forward GEMMs, once, for callers that run many
    /// inference forwards with the same weights (<c>InferencePlan</c>); dispose it when the weights change or are dropped.
    /// </summary>
    internal static PackedWeights PackForward(float[] w, int inChannels, int outChannels, int groups, int kernelH, int kernelW) =>
        new(w, groups, outChannels / groups, inChannels / groups * kernelH * kernelW, transpose: false);

    /// <summary>Each group's W_g (Mg × Kg), or W_gᵀ, packed once for the GEMMs of every block.</summary>
    internal sealed class PackedWeights : IDisposable
    {
        private readonly Gemm.PackedA?[] _groups;
        private readonly int _mg, _kg;
        private readonly bool _transpose;

        public PackedWeights(float[] w, int groups, int mg, int kg, bool transpose)
        {
            _groups = new Gemm.PackedA?[groups];
            _mg = mg; _kg = kg; _transpose = transpose;
            try
            {
                for (int gi = 0; gi < groups; gi++)
                {
                    var wg = w.AsSpan(gi * mg * kg);
                    _groups[gi] = transpose ? new Gemm.PackedA(true, kg, mg, wg, kg) : new Gemm.PackedA(false, mg, kg, wg, kg);
                }
            }
            catch { Dispose(); throw; }
        }

        public bool Fits(int groups, int mg, int kg, bool transpose) => _groups.Length == groups && _mg == mg && _kg == kg && _transpose == transpose;

        public Gemm.PackedA this[int group] => _groups[group]!;

        public void Dispose() { foreach (var p in _groups) p?.Dispose(); }
    }

    /// <summary>A thread's working buffer (columns, gathered dY, dCols), rented from the pool and grown on demand.</summary>
    private sealed class Scratch : IDisposable
    {
        private float[]? _buffer;

        /// <summary>A buffer of at least <paramref name="length"/> floats (null for 0 when none is held yet); contents undefined.</summary>
        public float[]? Get(int length)
        {
            if (length == 0 || (_buffer is not null && _buffer.Length >= length)) return _buffer;
            if (_buffer is not null) ArrayPool<float>.Shared.Return(_buffer);
            return _buffer = ArrayPool<float>.Shared.Rent(length);
        }

        public void Dispose()
        {
            if (_buffer is not null) ArrayPool<float>.Shared.Return(_buffer);
            _buffer = null;
        }
    }
}
