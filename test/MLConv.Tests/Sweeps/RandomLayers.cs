using CsCheck;
using MLConv.Training.Layers;

namespace MLConv.Tests.Sweeps;

/// <summary>
/// A random layer configuration for the property sweeps: what to build, the input (C, H, W) it is built for, and a
/// description that CsCheck prints for a (shrunk) failing case. Shared by the training sweeps and the export sweeps.
/// </summary>
public sealed record LayerCase(string Text, Func<Layer> Build, int[] Chw, int Batch)
{
    public override string ToString() => $"{Text} on [{Batch}, {string.Join(", ", Chw)}]";
}

/// <summary>Generators of <see cref="LayerCase"/> for every layer type; small sizes, so a sweep of hundreds runs in seconds.</summary>
public static class RandomLayers
{
    /// <summary>Iterations per sweep: <paramref name="ciDefault"/>, or MLCONV_SWEEP_ITERATIONS when set (the long run).</summary>
    public static long Iterations(long ciDefault) =>
        long.TryParse(Environment.GetEnvironmentVariable("MLCONV_SWEEP_ITERATIONS"), out long n) && n > 0 ? n : ciDefault;

    private static readonly Gen<int> Batch = Gen.Int[1, 3];

    /// <summary>(top, left, bottom, right) each in [0, max].</summary>
    private static Gen<Padding> Pads(int maxH, int maxW) =>
        Gen.Select(Gen.Int[0, maxH], Gen.Int[0, maxW], Gen.Int[0, maxH], Gen.Int[0, maxW], (t, l, b, r) => Padding.Explicit(t, l, b, r));

    private static string P(Padding p) => $"Padding.Explicit({p.Top}, {p.Left}, {p.Bottom}, {p.Right})";

    public static readonly Gen<LayerCase> Conv2d =
        from groups in Gen.Int[1, 3]
        from cinPer in Gen.Int[1, 3]
        from coutPer in Gen.Int[1, 3]
        from depthwise in Gen.Bool
        from kh in Gen.Int[1, 4]
        from kw in Gen.Int[1, 4]
        from sh in Gen.Int[1, 3]
        from sw in Gen.Int[1, 3]
        from dh in Gen.Int[1, 2]
        from dw in Gen.Int[1, 2]
        from padDrawn in Pads(2, 2)
        from extraH in Gen.Int[0, 6]
        from extraW in Gen.Int[0, 6]
        from bias in Gen.Bool
        from n in Batch
        // Padding below the effective kernel: the first window reads the input (a map of padding only proves nothing).
        let pad = Padding.Explicit(Math.Min(padDrawn.Top, dh * (kh - 1)), Math.Min(padDrawn.Left, dw * (kw - 1)),
            Math.Min(padDrawn.Bottom, dh * (kh - 1)), Math.Min(padDrawn.Right, dw * (kw - 1)))
        let cin = depthwise ? groups : groups * cinPer
        let cout = depthwise ? groups * coutPer : groups * coutPer
        let h = Math.Max(1, dh * (kh - 1) + 1 - pad.Top - pad.Bottom + extraH)
        let w = Math.Max(1, dw * (kw - 1) + 1 - pad.Left - pad.Right + extraW)
        select new LayerCase($"new Conv2d({cin}, {cout}, ({kh}, {kw}), stride: ({sh}, {sw}), padding: {P(pad)}, dilation: ({dh}, {dw}), groups: {groups}, bias: {(bias ? "true" : "false")})",
            () => new Conv2d(cin, cout, (kh, kw), stride: (sh, sw), padding: pad, dilation: (dh, dw), groups: groups, bias: bias), [cin, h, w], n);

    public static readonly Gen<LayerCase> ConvTranspose2d =
        from groups in Gen.Int[1, 2]
        from cinPer in Gen.Int[1, 3]
        from coutPer in Gen.Int[1, 3]
        from kh in Gen.Int[1, 4]
        from kw in Gen.Int[1, 4]
        from sh in Gen.Int[1, 3]
        from sw in Gen.Int[1, 3]
        from dh in Gen.Int[1, 2]
        from dw in Gen.Int[1, 2]
        from oph in Gen.Int[0, 2]
        from opw in Gen.Int[0, 2]
        from pad in Pads(2, 2)
        from h in Gen.Int[2, 6]
        from w in Gen.Int[2, 6]
        from n in Batch
        let cin = groups * cinPer
        let cout = groups * coutPer
        // Output padding up to max(stride, dilation) − 1 (PyTorch's rule); at or above the stride only when the end padding holds it (ONNX Runtime's).
        let op = (H: OutputPadding(oph, sh, dh, pad.Bottom), W: OutputPadding(opw, sw, dw, pad.Right))
        let fits = (h - 1) * sh + dh * (kh - 1) + 1 + op.H - pad.Top - pad.Bottom >= 1 && (w - 1) * sw + dw * (kw - 1) + 1 + op.W - pad.Left - pad.Right >= 1
        let op2 = fits ? op : (H: Math.Min(op.H, sh - 1), W: Math.Min(op.W, sw - 1))
        select new LayerCase($"new ConvTranspose2d({cin}, {cout}, ({kh}, {kw}), stride: ({sh}, {sw}), padding: {(fits ? P(pad) : "0")}, outputPadding: ({op2.H}, {op2.W}), dilation: ({dh}, {dw}), groups: {groups})",
            () => new Training.Layers.ConvTranspose2d(cin, cout, (kh, kw), stride: (sh, sw), padding: fits ? pad : 0, outputPadding: op2, dilation: (dh, dw), groups: groups), [cin, h, w], n);

    /// <summary>Max, min and average pooling with any padding up to half the kernel, dilation (max/min), ceil mode and count_include_pad.</summary>
    public static readonly Gen<LayerCase> Pool =
        from kind in Gen.Int[0, 2]
        from kh in Gen.Int[1, 4]
        from kw in Gen.Int[1, 4]
        from sh in Gen.Int[1, 3]
        from sw in Gen.Int[1, 3]
        from dh in Gen.Int[1, 2]
        from dw in Gen.Int[1, 2]
        from t in Gen.Int[0, 2]
        from l in Gen.Int[0, 2]
        from b in Gen.Int[0, 2]
        from r in Gen.Int[0, 2]
        from ceil in Gen.Bool
        from includePad in Gen.Bool
        from extraH in Gen.Int[0, 7]
        from extraW in Gen.Int[0, 7]
        from c in Gen.Int[1, 3]
        from n in Batch
        let d = kind == 2 ? (H: 1, W: 1) : (H: dh, W: dw)
        let pad = Padding.Explicit(Math.Min(t, kh / 2), Math.Min(l, kw / 2), Math.Min(b, kh / 2), Math.Min(r, kw / 2))
        let h = d.H * (kh - 1) + 1 + extraH
        let w = d.W * (kw - 1) + 1 + extraW
        where OnnxCanStateItsShape(kind, (kh, kw), (sh, sw), (d.H, d.W), pad, ceil, includePad, h, w)
        select new LayerCase(kind switch
            {
                0 => $"new MaxPool2d(({kh}, {kw}), ({sh}, {sw}), {P(pad)}, dilation: ({d.H}, {d.W}), ceilMode: {Lower(ceil)})",
                1 => $"new MinPool2d(({kh}, {kw}), ({sh}, {sw}), {P(pad)}, dilation: ({d.H}, {d.W}), ceilMode: {Lower(ceil)})",
                _ => $"new AvgPool2d(({kh}, {kw}), ({sh}, {sw}), {P(pad)}, ceilMode: {Lower(ceil)}, countIncludePad: {Lower(includePad)})",
            },
            () => kind switch
            {
                0 => new MaxPool2d((kh, kw), (sh, sw), pad, (d.H, d.W), ceil),
                1 => new MinPool2d((kh, kw), (sh, sw), pad, (d.H, d.W), ceil),
                _ => (Layer)new AvgPool2d((kh, kw), (sh, sw), pad, ceil, includePad),
            }, [c, h, w], n);

    /// <summary>
    /// False for the one pooling family whose ONNX export keeps a ceil_mode that ONNX's shape inference miscounts (a
    /// documented limit, docs/reliability.md): PoolOnnx.Emit's rule, stated independently here.
    /// </summary>
    private static bool OnnxCanStateItsShape(int kind, (int H, int W) k, (int H, int W) s, (int H, int W) d, Padding p, bool ceil, bool includePad, int h, int w)
    {
        if (!ceil) return true;
        static (int Ours, int Onnx, int Need) Axis(int input, int kernel, int stride, int dilation, int begin, int end)
        {
            int ek = dilation * (kernel - 1) + 1, span = input + begin + end - ek;
            int onnx = (span + stride - 1) / stride + 1, ours = onnx;
            if ((ours - 1) * stride >= input + begin) ours--;
            return (ours, onnx, Math.Max(0, (ours - 1) * stride + ek - input - begin));
        }
        var ah = Axis(h, k.H, s.H, d.H, p.Top, p.Bottom);
        var aw = Axis(w, k.W, s.W, d.W, p.Left, p.Right);
        if (ah.Ours == ah.Onnx && aw.Ours == aw.Onnx) return true;
        bool countsPadding = kind == 2 && includePad;
        return ah.Need <= (countsPadding ? p.Bottom : Math.Max(p.Bottom, k.H / 2)) && aw.Need <= (countsPadding ? p.Right : Math.Max(p.Right, k.W / 2));
    }

    private static int OutputPadding(int wanted, int stride, int dilation, int padEnd)
    {
        int op = Math.Min(wanted, Math.Max(stride, dilation) - 1);
        return op < stride || op <= padEnd ? op : stride - 1;
    }

    private static string Lower(bool b) => b ? "true" : "false";

    private static readonly Gen<(int C, int H, int W, int N)> Shape =
        Gen.Select(Gen.Int[1, 4], Gen.Int[1, 5], Gen.Int[1, 5], Batch, (c, h, w, n) => (c, h, w, n));

    /// <summary>Element-wise activations with random parameters.</summary>
    public static readonly Gen<LayerCase> Activation =
        from kind in Gen.Int[0, 13]
        from a in Gen.Double[0.05, 1.5]
        from b in Gen.Double[-1, 1]
        from s in Shape
        let made = kind switch
        {
            0 => ("new ReLU()", (Func<Layer>)(() => new ReLU())),
            1 => ($"new LeakyReLU({a:R})", () => new LeakyReLU(a)),
            2 => ($"new ELU({a:R})", () => new ELU(a)),
            3 => ("new SELU()", () => new SELU()),
            4 => ("new Sigmoid()", () => new Sigmoid()),
            5 => ("new Tanh()", () => new Tanh()),
            6 => ("new Softplus()", () => new Softplus()),
            7 => ("new Softsign()", () => new Softsign()),
            8 => ($"new Clip({-a:R}, {a + Math.Abs(b):R})", () => new Clip(-a, a + Math.Abs(b))),
            9 => ($"new HardSigmoid({a:R}, {b:R})", () => new HardSigmoid(a, b)),
            10 => ("new HardSwish()", () => new HardSwish()),
            11 => ("new SiLU()", () => new SiLU()),
            12 => ($"new PReLU({s.C}, {a:R})", () => new PReLU(s.C, a)),
            _ => ("new Negate()", () => new Negate()),
        }
        select new LayerCase(made.Item1, made.Item2, [s.C, s.H, s.W], s.N);

    /// <summary>Normalisation, padding, global pooling, rearrangement and classifier heads.</summary>
    public static readonly Gen<LayerCase> Structural =
        from kind in Gen.Int[0, 13]
        from s in Shape
        from k in Gen.Int[1, 4]
        from pad in Pads(2, 2)
        from mode in Gen.Int[0, 2]
        from flag in Gen.Bool
        from eps in Gen.Double[1e-5, 1e-2]
        from units in Gen.Int[1, 6]
        let made = kind switch
        {
            0 => ($"new BatchNorm2d({s.C}, eps: {eps:R})", (Func<Layer>)(() => new BatchNorm2d(s.C, eps: eps))),
            1 => ($"new InstanceNorm2d({s.C}, eps: {eps:R}, affine: {Lower(flag)})", () => new InstanceNorm2d(s.C, eps: eps, affine: flag)),
            2 => ($"new LocalResponseNorm({2 * k - 1}, 0.5, 0.75, 2)", () => new LocalResponseNorm(2 * k - 1, 0.5, 0.75, 2)),
            // Reflect needs pads below the size; the generator keeps them so.
            3 => ($"new Pad2d({P(Fit(pad, s.H, s.W, mode))}, PadMode.{(PadMode)mode}, 0.5f)", () => new Pad2d(Fit(pad, s.H, s.W, mode), (PadMode)mode, 0.5f)),
            4 => ("new GlobalAvgPool2d()", () => new GlobalAvgPool2d()),
            5 => ("new GlobalMaxPool2d()", () => new GlobalMaxPool2d()),
            6 => ($"new SpatialMean(keepDims: true)", () => new SpatialMean(keepDims: true)),
            7 => ($"new Sequential(new Conv2d({s.C}, {s.C * k * k}, 1), new PixelShuffle({k}))", () => new Sequential(new Conv2d(s.C, s.C * k * k, 1), new PixelShuffle(k))),
            8 => ($"new ChannelAffine({s.C})", () => new ChannelAffine(s.C)),
            9 => ($"new Sequential(new Flatten(), new Linear({s.C * s.H * s.W}, {units}, bias: {Lower(flag)}))", () => new Sequential(new Flatten(), new Linear(s.C * s.H * s.W, units, bias: flag))),
            10 => ($"new Sequential(new Flatten(), new Dropout(0.3), new Linear({s.C * s.H * s.W}, {units}), new Softmax(log: {Lower(flag)}))",
                () => new Sequential(new Flatten(), new Dropout(0.3), new Linear(s.C * s.H * s.W, units), new Softmax(log: flag))),
            11 => ($"new Softmax(axis: {1 + mode})", () => new Softmax(axis: 1 + mode)),
            12 => ($"new Reshape({s.W}, -1, 1)", () => new Reshape(s.W, -1, 1)),
            _ => (flag ? "new Transpose(0, 2, 1, 3)" : "new Transpose(0, 1, 3, 2)", () => flag ? new Transpose(0, 2, 1, 3) : new Transpose(0, 1, 3, 2)),
        }
        select new LayerCase(made.Item1, made.Item2, [s.C, s.H, s.W], s.N);

    private static Padding Fit(Padding p, int h, int w, int mode) => mode == (int)PadMode.Reflect
        ? Padding.Explicit(Math.Min(p.Top, h - 1), Math.Min(p.Left, w - 1), Math.Min(p.Bottom, h - 1), Math.Min(p.Right, w - 1))
        : p;

    /// <summary>Composites: residual blocks, frozen blocks and graphs joining two convolution branches by Concat, Sum or an element-wise op.</summary>
    public static readonly Gen<LayerCase> Composite =
        from kind in Gen.Int[0, 5]
        from s in Shape
        from k in Gen.Int[1, 3]
        from cout in Gen.Int[1, 4]
        from op in Gen.Int[0, 2]   // Add, Sub, Mul (Div of two random maps is ill-conditioned)
        let pad = (k - 1) / 2
        let hh = Math.Max(s.H, k)
        let ww = Math.Max(s.W, k)
        let made = kind switch
        {
            0 => ($"new Residual(new Sequential(new Conv2d({s.C}, {s.C}, {2 * pad + 1}, padding: {pad}), new ReLU()))",
                (Func<Layer>)(() => new Residual(new Sequential(new Conv2d(s.C, s.C, 2 * pad + 1, padding: pad), new ReLU())))),
            1 => ($"new Residual(new Conv2d({s.C}, {cout}, {k}), new Conv2d({s.C}, {cout}, {k}))", () => new Residual(new Conv2d(s.C, cout, k), new Conv2d(s.C, cout, k))),
            2 => ($"new Sequential(new Frozen(new Sequential(new Conv2d({s.C}, {cout}, {k}), new BatchNorm2d({cout}))), new ReLU())",
                () => new Sequential(new Frozen(new Sequential(new Conv2d(s.C, cout, k), new BatchNorm2d(cout))), new ReLU())),
            3 => ($"Graph(conv {s.C}->{cout} k{k} | conv, Concat)", () => Branches(s.C, cout, k, new Concat())),
            4 => ($"Graph(conv {s.C}->{cout} k{k} | conv, Sum)", () => Branches(s.C, cout, k, new Sum())),
            _ => ($"Graph(conv {s.C}->{cout} k{k} | conv, Elementwise.{(ElementwiseOp)op})", () => Branches(s.C, cout, k, new Elementwise((ElementwiseOp)op))),
        }
        select new LayerCase(made.Item1, made.Item2, [s.C, hh, ww], s.N);

    private static Layer Branches(int c, int cout, int k, Layer join) => new Graph("x",
    [
        new GraphNode("a", new Conv2d(c, cout, k), ["x"], "a"),
        new GraphNode("b", new Conv2d(c, cout, k), ["x"], "b"),
        new GraphNode("join", join, ["a", "b"], "y"),
    ], "y");

    /// <summary>Every layer type, in one generator.</summary>
    public static readonly Gen<LayerCase> Any = Gen.OneOf(Conv2d, ConvTranspose2d, Pool, Activation, Structural, Composite);
}
