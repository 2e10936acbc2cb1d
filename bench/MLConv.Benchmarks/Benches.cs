using MLConv.Training.Layers;
using MLConv.Training.Losses;
using MLConv.Training.Models;
using MLConv.Training.Optimizers;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;
using MlTensor = MLConv.Training.Tensors.Tensor;
using TorchTensor = TorchSharp.torch.Tensor;

namespace MLConv.Benchmarks;

public static class Benches
{
    /// <summary>Only GEMM and convolution cases whose name contains this text (--case); null: all.</summary>
    public static string? CaseFilter { get; set; }

    private static bool Selected(string name) => CaseFilter is null || name.Contains(CaseFilter, StringComparison.OrdinalIgnoreCase);

    // ---------------------------------------------------------------- GEMM

    /// <summary>C = op(A)·op(B), C is M×N, K the inner dimension; MLConv Gemm.Multiply vs in-place torch addmm_ (beta 0).</summary>
    public static void Gemm(Report report)
    {
        Console.WriteLine("GEMM (M x N x K; op(A) M×K, op(B) K×N)");
        (int M, int N, int K, bool TA, bool TB, string Note)[] shapes =
        [
            (256, 256, 256, false, false, ""),
            (512, 512, 512, false, false, ""),
            (64, 3136, 576, false, false, " conv fwd-like"),
            (1152, 64, 4096, false, false, ""),
            (64, 576, 3136, false, true, " conv dW-like"),
            (576, 3136, 64, true, false, " conv dX-like"),
            (16, 6400, 150, false, false, " = LeNet conv2 fwd"),
            (128, 16384, 576, false, false, " = SimpleCNN conv2 fwd"),
            (1024, 1024, 1024, false, false, ""),
            (512, 49, 4608, false, false, " = ResNet-18 layer4 3x3 fwd"),
            (256, 196, 2304, false, false, " = ResNet-18 layer3 3x3 fwd"),
            (256, 2304, 196, false, true, " = ResNet-18 layer3 dW"),
            (2304, 196, 256, true, false, " = ResNet-18 layer3 dX"),
            (64, 12544, 147, false, false, " = ResNet-18 stem 7x7 fwd"),
        ];
        var rng = new Random(42);
        foreach (var (m, n, k, ta, tb, note) in shapes.Where(s => Selected($"{s.M}x{s.N}x{s.K} {(s.TA ? "T" : "N")}{(s.TB ? "T" : "N")}{s.Note}")))
        {
            float[] a = RandomArray(rng, m * k), b = RandomArray(rng, k * n), c = new float[m * n];
            int lda = ta ? m : k, ldb = tb ? k : n;
            using var at = tensor(a, ta ? [k, m] : [m, k]);
            using var bt = tensor(b, tb ? [n, k] : [k, n]);
            using var opA = ta ? at.t() : at.alias();
            using var opB = tb ? bt.t() : bt.alias();
            using var ct = zeros(m, n);

            void Ml() => Training.Kernels.Gemm.Multiply(ta, tb, m, n, k, 1f, a, lda, b, ldb, 0f, c, n);
            void Th() => ct.addmm_(opA, opB, beta: 0, alpha: 1);

            Ml(); Th();
            string name = $"{m}x{n}x{k} {(ta ? "T" : "N")}{(tb ? "T" : "N")}{note}";
            report.Check($"GEMM {name}: {Diff(c, ct)}");
            var (ms, ts) = Timing.Compare(Ml, Th);
            report.Add(new Row("GEMM", name, ms, ts, "GFLOP/s", 2.0 * m * n * k / 1e9));
        }
    }

    // ---------------------------------------------------------------- Conv2d

    private sealed record ConvCase(string Name, int N, int Cin, int Cout, int K, int Pad, int H, int W, int Groups, int Stride = 1);

    /// <summary>The small-image layers of LeNet-5 and SimpleCNN, then ResNet-18's and MobileNetV2's layers at 224 px (batch <paramref name="batch"/>).</summary>
    public static void Conv(Report report, int batch)
    {
        Console.WriteLine("Conv2d (with bias; fwd+bwd computes dX, dW, db)");
        int b = batch;
        ConvCase[] cases =
        [
            new("LeNet conv1 64x1x28x28 -> 6, 5x5 p2", 64, 1, 6, 5, 2, 28, 28, 1),
            new("LeNet conv2 64x6x14x14 -> 16, 5x5", 64, 6, 16, 5, 0, 14, 14, 1),
            new("SimpleCNN conv2 64x64x16x16 -> 128, 3x3 p1", 64, 64, 128, 3, 1, 16, 16, 1),
            new("depthwise 64x96x16x16, 3x3 p1, g96", 64, 96, 96, 3, 1, 16, 16, 96),
            new($"R18 stem {b}x3x224x224 -> 64, 7x7 s2 p3", b, 3, 64, 7, 3, 224, 224, 1, 2),
            new($"R18 layer1 {b}x64x56x56 -> 64, 3x3 p1", b, 64, 64, 3, 1, 56, 56, 1),
            new($"R18 layer2.0 {b}x64x56x56 -> 128, 3x3 s2 p1", b, 64, 128, 3, 1, 56, 56, 1, 2),
            new($"R18 layer2.0 shortcut {b}x64x56x56 -> 128, 1x1 s2", b, 64, 128, 1, 0, 56, 56, 1, 2),
            new($"R18 layer2 {b}x128x28x28 -> 128, 3x3 p1", b, 128, 128, 3, 1, 28, 28, 1),
            new($"R18 layer3 {b}x256x14x14 -> 256, 3x3 p1", b, 256, 256, 3, 1, 14, 14, 1),
            new($"R18 layer4 {b}x512x7x7 -> 512, 3x3 p1", b, 512, 512, 3, 1, 7, 7, 1),
            new($"MNv2 stem {b}x3x224x224 -> 32, 3x3 s2 p1", b, 3, 32, 3, 1, 224, 224, 1, 2),
            new($"MNv2 dw {b}x32x112x112, 3x3 p1", b, 32, 32, 3, 1, 112, 112, 32),
            new($"MNv2 expand {b}x24x56x56 -> 144, 1x1", b, 24, 144, 1, 0, 56, 56, 1),
            new($"MNv2 dw {b}x144x56x56, 3x3 p1", b, 144, 144, 3, 1, 56, 56, 144),
            new($"MNv2 dw {b}x144x56x56, 3x3 s2 p1", b, 144, 144, 3, 1, 56, 56, 144, 2),
            new($"MNv2 project {b}x144x56x56 -> 24, 1x1", b, 144, 24, 1, 0, 56, 56, 1),
            new($"MNv2 dw {b}x960x7x7, 3x3 p1", b, 960, 960, 3, 1, 7, 7, 960),
        ];
        var rng = new Random(7);
        foreach (var cc in cases.Where(c => Selected(c.Name)))
        {
            var conv = new Conv2d(cc.Cin, cc.Cout, cc.K, cc.Stride, padding: cc.Pad, groups: cc.Groups, rng: new Random(1));
            var bias = conv.Bias!.Value.Span;
            for (int i = 0; i < bias.Length; i++) bias[i] = (float)(rng.NextDouble() - 0.5);
            int oh = (cc.H + 2 * cc.Pad - cc.K) / cc.Stride + 1, ow = (cc.W + 2 * cc.Pad - cc.K) / cc.Stride + 1;
            var x = MlTensor.FromArray(RandomArray(rng, cc.N * cc.Cin * cc.H * cc.W), cc.N, cc.Cin, cc.H, cc.W);
            var dy = MlTensor.FromArray(RandomArray(rng, cc.N * cc.Cout * oh * ow), cc.N, cc.Cout, oh, ow);

            using var xt = ToTorch(x);
            using var dyt = ToTorch(dy);
            using var wt = ToTorch(conv.Weight.Value);
            using var bt = ToTorch(conv.Bias.Value);
            using var xg = xt.detach().requires_grad_(true);
            using var wg = wt.detach().requires_grad_(true);
            using var bg = bt.detach().requires_grad_(true);
            long[] stride = [cc.Stride, cc.Stride], pad = [cc.Pad, cc.Pad], dil = [1, 1];

            // Forward only (no autograd graph on the torch side; MLConv keeps its columns for backward as it does in training).
            void MlFwd() => conv.Forward(x, true);
            void ThFwd()
            {
                using var scope = NewDisposeScope();
                F.conv2d(xt, wt, bt, stride, pad, dil, cc.Groups);
            }

            // Forward + backward: dX, dW, db (gradients returned by autograd.grad, nothing accumulated).
            void MlBoth()
            {
                conv.Weight.Grad.Clear();
                conv.Bias.Grad.Clear();
                conv.Forward(x, true);
                conv.Backward(dy);
            }
            TorchTensor[] ThBothGrads()
            {
                var y = F.conv2d(xg, wg, bg, stride, pad, dil, cc.Groups);
                return [.. torch.autograd.grad([y], [xg, wg, bg], [dyt])];
            }
            void ThBoth()
            {
                using var scope = NewDisposeScope();
                ThBothGrads();
            }

            // Correctness once: y, dX, dW, db.
            var yMl = conv.Forward(x, true).Clone();
            using (var scope = NewDisposeScope())
            {
                var yTh = F.conv2d(xt, wt, bt, stride, pad, dil, cc.Groups);
                conv.Weight.Grad.Clear(); conv.Bias.Grad.Clear();
                conv.Forward(x, true);
                var dxMl = conv.Backward(dy);
                var g = ThBothGrads();
                report.Check($"Conv {cc.Name}: y {Diff(yMl.Span, yTh)}; dX {Diff(dxMl.Span, g[0])}; dW {Diff(conv.Weight.Grad.Span, g[1])}; db {Diff(conv.Bias.Grad.Span, g[2])}");
            }

            double macs = (double)cc.N * cc.Cout * oh * ow * (cc.Cin / cc.Groups) * cc.K * cc.K;
            var (mf, tf) = Timing.Compare(MlFwd, ThFwd);
            // Least traffic: forward reads x and W and writes y; forward+backward also reads x, W and dY again and writes dX, dW.
            double xBytes = 4.0 * cc.N * cc.Cin * cc.H * cc.W, wBytes = 4.0 * cc.Cout * (cc.Cin / cc.Groups) * cc.K * cc.K, yBytes = 4.0 * cc.N * cc.Cout * oh * ow;
            report.Add(new Row("Conv fwd", cc.Name, mf, tf, "GFLOP/s", 2 * macs / 1e9, Bytes: xBytes + wBytes + yBytes));
            var (mb, tb) = Timing.Compare(MlBoth, ThBoth);
            report.Add(new Row("Conv f+b", cc.Name, mb, tb, "GFLOP/s", 6 * macs / 1e9, Bytes: 3 * xBytes + 3 * wBytes + 2 * yBytes));
        }
    }

    // ---------------------------------------------------------------- other LeNet kernels

    /// <summary>The non-convolution layers of the LeNet step, forward + backward.</summary>
    public static void Other(Report report)
    {
        Console.WriteLine("Other layers of the LeNet step (forward + backward)");
        var rng = new Random(11);
        {
            var pool = new MaxPool2d(2);
            var x = MlTensor.FromArray(RandomArray(rng, 64 * 6 * 28 * 28), 64, 6, 28, 28);
            var dy = MlTensor.FromArray(RandomArray(rng, 64 * 6 * 14 * 14), 64, 6, 14, 14);
            using var xg = ToTorch(x).requires_grad_(true);
            using var dyt = ToTorch(dy);
            void Ml() { pool.Forward(x, true); pool.Backward(dy); }
            TorchTensor[] ThGrads() => [.. torch.autograd.grad([F.max_pool2d(xg, [2, 2])], [xg], [dyt])];
            void Th() { using var s = NewDisposeScope(); ThGrads(); }
            using (var s = NewDisposeScope())
            {
                var y = pool.Forward(x, true).Clone();
                var dx = pool.Backward(dy);
                var yTh = F.max_pool2d(xg, [2, 2]);
                report.Check($"MaxPool2d 2x2 64x6x28x28: y {Diff(y.Span, yTh)}; dX {Diff(dx.Span, ThGrads()[0])}");
            }
            var (m, t) = Timing.Compare(Ml, Th);
            report.Add(new Row("Layer f+b", "MaxPool2d 2x2 64x6x28x28", m, t, "Melem/s", 64.0 * 6 * 28 * 28 / 1e6));
        }
        {
            // The first pooling of SimpleCNN(32,64,128) on 32x32x3.
            var pool = new MaxPool2d(2);
            var x = MlTensor.FromArray(RandomArray(rng, 64 * 32 * 32 * 32), 64, 32, 32, 32);
            var dy = MlTensor.FromArray(RandomArray(rng, 64 * 32 * 16 * 16), 64, 32, 16, 16);
            using var xg = ToTorch(x).requires_grad_(true);
            using var dyt = ToTorch(dy);
            void Ml() { pool.Forward(x, true); pool.Backward(dy); }
            void Th() { using var s = NewDisposeScope(); torch.autograd.grad([F.max_pool2d(xg, [2, 2])], [xg], [dyt]); }
            var (m, t) = Timing.Compare(Ml, Th);
            report.Add(new Row("Layer f+b", "MaxPool2d 2x2 64x32x32x32", m, t, "Melem/s", 64.0 * 32 * 32 * 32 / 1e6));
        }
        {
            // The first BatchNorm of SimpleCNN(32,64,128), training mode (batch statistics).
            var bn = new BatchNorm2d(32);
            var gamma = bn.Parameters[0].Value.Span;
            var beta = bn.Parameters[1].Value.Span;
            for (int i = 0; i < 32; i++) { gamma[i] = 1f + (float)(rng.NextDouble() - 0.5); beta[i] = (float)(rng.NextDouble() - 0.5); }
            var x = MlTensor.FromArray(RandomArray(rng, 64 * 32 * 32 * 32), 64, 32, 32, 32);
            var dy = MlTensor.FromArray(RandomArray(rng, 64 * 32 * 32 * 32), 64, 32, 32, 32);
            using var xg = ToTorch(x).requires_grad_(true);
            using var wg = ToTorch(bn.Parameters[0].Value).requires_grad_(true);
            using var bg = ToTorch(bn.Parameters[1].Value).requires_grad_(true);
            using var rm = zeros(32);
            using var rv = ones(32);
            using var dyt = ToTorch(dy);
            void Ml() { foreach (var p in bn.Parameters) p.Grad.Clear(); bn.Forward(x, true); bn.Backward(dy); }
            TorchTensor[] ThGrads() => [.. torch.autograd.grad([F.batch_norm(xg, rm, rv, wg, bg, true, 0.1, 1e-5)], [xg, wg, bg], [dyt])];
            void Th() { using var s = NewDisposeScope(); ThGrads(); }
            using (var s = NewDisposeScope())
            {
                foreach (var p in bn.Parameters) p.Grad.Clear();
                var y = bn.Forward(x, true).Clone();
                var dx = bn.Backward(dy);
                var yTh = F.batch_norm(xg, rm, rv, wg, bg, true, 0.1, 1e-5);
                var g = ThGrads();
                report.Check($"BatchNorm2d(32) train 64x32x32x32: y {Diff(y.Span, yTh)}; dX {Diff(dx.Span, g[0])}; dγ {Diff(bn.Parameters[0].Grad.Span, g[1])}; dβ {Diff(bn.Parameters[1].Grad.Span, g[2])}");
            }
            var (m, t) = Timing.Compare(Ml, Th);
            report.Add(new Row("Layer f+b", "BatchNorm2d(32) train 64x32x32x32", m, t, "Melem/s", 64.0 * 32 * 32 * 32 / 1e6));
        }
        {
            // Adam step over the parameter sizes of SimpleCNN(32,64,128) (1.2 M values), gradients already there.
            var net = Architectures.SimpleCnn(3, 32, 32, 10, widths: [32, 64, 128], seed: 1);
            var ps = net.Parameters.ToList();
            foreach (var p in ps) RandomArray(rng, p.Grad.Length).CopyTo(p.Grad.Span);
            var adam = new Adam(ps, 1e-3);
            var tps = ps.Select(p => new TorchSharp.Modules.Parameter(ToTorch(p.Value))).ToList();
            for (int i = 0; i < ps.Count; i++)
            {
                using var s = NewDisposeScope();
                (tps[i] * ToTorch(ps[i].Grad)).sum().backward();   // .grad = the same gradient
            }
            if (tps.Any(p => p.grad is null)) throw new InvalidOperationException("Adam benchmark: torch gradients missing.");
            using var opt = optim.Adam(tps, lr: 1e-3);
            long count = ps.Sum(p => (long)p.Value.Length);
            void Ml() => adam.Step();
            void Th() { using var s = NewDisposeScope(); opt.step(); }
            var (m, t) = Timing.Compare(Ml, Th);
            report.Add(new Row("Optimizer", $"Adam step, {count / 1e6:F2} M params (SimpleCNN)", m, t, "Mparam/s", count / 1e6));
            foreach (var p in tps) p.Dispose();
        }
        {
            var relu = new ReLU();
            var x = MlTensor.FromArray(RandomArray(rng, 64 * 6 * 28 * 28), 64, 6, 28, 28);
            var dy = MlTensor.FromArray(RandomArray(rng, 64 * 6 * 28 * 28), 64, 6, 28, 28);
            using var xg = ToTorch(x).requires_grad_(true);
            using var dyt = ToTorch(dy);
            void Ml() { relu.Forward(x, true); relu.Backward(dy); }
            void Th() { using var s = NewDisposeScope(); torch.autograd.grad([F.relu(xg)], [xg], [dyt]); }
            var (m, t) = Timing.Compare(Ml, Th);
            report.Add(new Row("Layer f+b", "ReLU 64x6x28x28", m, t, "Melem/s", 64.0 * 6 * 28 * 28 / 1e6));
        }
        {
            var fc = new Linear(400, 120, rng: new Random(3));
            var x = MlTensor.FromArray(RandomArray(rng, 64 * 400), 64, 400);
            var dy = MlTensor.FromArray(RandomArray(rng, 64 * 120), 64, 120);
            using var xg = ToTorch(x).requires_grad_(true);
            using var wg = ToTorch(fc.Weight.Value).requires_grad_(true);
            using var bg = ToTorch(fc.Bias!.Value).requires_grad_(true);
            using var dyt = ToTorch(dy);
            void Ml() { fc.Weight.Grad.Clear(); fc.Bias.Grad.Clear(); fc.Forward(x, true); fc.Backward(dy); }
            TorchTensor[] ThGrads() => [.. torch.autograd.grad([F.linear(xg, wg, bg)], [xg, wg, bg], [dyt])];
            void Th() { using var s = NewDisposeScope(); ThGrads(); }
            using (var s = NewDisposeScope())
            {
                fc.Weight.Grad.Clear(); fc.Bias.Grad.Clear();
                fc.Forward(x, true);
                var dx = fc.Backward(dy);
                var g = ThGrads();
                report.Check($"Linear 400->120 batch 64: dX {Diff(dx.Span, g[0])}; dW {Diff(fc.Weight.Grad.Span, g[1])}; db {Diff(fc.Bias.Grad.Span, g[2])}");
            }
            var (m, t) = Timing.Compare(Ml, Th);
            report.Add(new Row("Layer f+b", "Linear 400->120, batch 64", m, t, "GFLOP/s", 6.0 * 64 * 400 * 120 / 1e9));
        }
    }

    // ---------------------------------------------------------------- training step

    public static void Train(Report report, bool simpleCnn, bool bigNets, int bigBatch, bool breakdowns, bool small)
    {
        Console.WriteLine("Training step (forward + cross-entropy + backward + Adam lr 1e-3)");
        const int batch = 64;
        var rng = new Random(5);

        // LeNet-5 on 28x28x1.
        if (small)
        {
            var net = Architectures.LeNet5(1, 28, 28, 10, seed: 1);
            using var model = nn.Sequential(
                ("conv1", nn.Conv2d(1, 6, 5, padding: 2)), ("relu1", nn.ReLU()), ("pool1", nn.MaxPool2d(2)),
                ("conv2", nn.Conv2d(6, 16, 5)), ("relu2", nn.ReLU()), ("pool2", nn.MaxPool2d(2)),
                ("flatten", nn.Flatten()),
                ("fc1", nn.Linear(400, 120)), ("relu3", nn.ReLU()),
                ("fc2", nn.Linear(120, 84)), ("relu4", nn.ReLU()),
                ("fc3", nn.Linear(84, 10)));
            TrainCase(report, "LeNet-5 28x28x1", net, model, batch, rng, compareLosses: true, breakdowns);
        }
        if (simpleCnn)
        {
            var net = Architectures.SimpleCnn(3, 32, 32, 10, widths: [32, 64, 128], seed: 1);
            using var model = nn.Sequential(
                ("c1", nn.Conv2d(3, 32, 3, padding: 1)), ("bn1", nn.BatchNorm2d(32)), ("r1", nn.ReLU()), ("p1", nn.MaxPool2d(2)),
                ("c2", nn.Conv2d(32, 64, 3, padding: 1)), ("bn2", nn.BatchNorm2d(64)), ("r2", nn.ReLU()), ("p2", nn.MaxPool2d(2)),
                ("c3", nn.Conv2d(64, 128, 3, padding: 1)), ("bn3", nn.BatchNorm2d(128)), ("r3", nn.ReLU()), ("p3", nn.MaxPool2d(2)),
                ("flatten", nn.Flatten()),
                ("fc1", nn.Linear(128 * 4 * 4, 512)), ("r4", nn.ReLU()), ("drop", nn.Dropout(0.5)),
                ("fc2", nn.Linear(512, 10)));
            // Dropout masks differ between the two, so losses are compared in eval mode only.
            TrainCase(report, "SimpleCNN(32,64,128) 32x32x3", net, model, batch, rng, compareLosses: false, breakdowns);
        }
        if (bigNets)
        {
            {
                var net = Nets.ResNet18();
                using var model = Nets.TorchResNet18();
                TrainCase(report, "ResNet-18 224x224x3", net, model, bigBatch, rng, compareLosses: true, breakdowns);
            }
            {
                var net = Nets.MobileNetV2();
                using var model = Nets.TorchMobileNetV2();
                TrainCase(report, "MobileNetV2 224x224x3", net, model, bigBatch, rng, compareLosses: true, breakdowns);
            }
        }
    }

    private static void TrainCase(Report report, string name, Network net, nn.Module<TorchTensor, TorchTensor> model,
        int batch, Random rng, bool compareLosses, bool breakdown)
    {
        // Same initial weights in both.
        var mlParams = net.Parameters.ToList();
        var thParams = model.parameters().ToList();
        if (mlParams.Count != thParams.Count) throw new InvalidOperationException($"{name}: {mlParams.Count} MLConv parameters vs {thParams.Count} torch parameters.");
        using (no_grad())
            for (int i = 0; i < mlParams.Count; i++)
            {
                var shape = mlParams[i].Value.ShapeArray.Select(d => (long)d).ToArray();
                if (!shape.SequenceEqual(thParams[i].shape))
                    throw new InvalidOperationException($"{name}: parameter {i} is [{string.Join(",", shape)}] in MLConv, [{string.Join(",", thParams[i].shape)}] in torch.");
                using var src = tensor(mlParams[i].Value.Span.ToArray(), shape);
                thParams[i].copy_(src);
            }

        int c = net.Channels, h = net.Height, w = net.Width;
        var x = new MlTensor(batch, c, h, w);
        for (int i = 0; i < x.Length; i++) x[i] = (float)rng.NextDouble();
        var labels = Enumerable.Range(0, batch).Select(_ => rng.Next(net.NumClasses)).ToArray();
        using var xt = ToTorch(x);
        using var yt = tensor(labels.Select(l => (long)l).ToArray(), [batch], ScalarType.Int64);

        // Eval-mode forward must agree (same weights, BatchNorm running stats at their initial values, dropout off).
        using (var s = NewDisposeScope())
        using (no_grad())
        {
            model.eval();
            var logitsTh = model.call(xt);
            var logitsMl = net.Forward(x, false);
            report.Check($"{name} eval forward logits: {Diff(logitsMl.Span, logitsTh)}");
            model.train();
        }

        var adam = new Adam(net.Parameters, 1e-3);
        var loss = new SoftmaxCrossEntropy();
        using var opt = optim.Adam(model.parameters(), lr: 1e-3);

        float MlStep()
        {
            adam.ZeroGrad();
            var logits = net.Forward(x, true);
            float l = loss.Forward(logits, labels);
            net.Backward(loss.Backward());
            adam.Step();
            return l;
        }
        float ThStep()
        {
            using var scope = NewDisposeScope();
            opt.zero_grad();
            var logits = model.call(xt);
            var l = F.cross_entropy(logits, yt);
            l.backward();
            opt.step();
            return l.item<float>();
        }

        // A few identical steps: losses should track each other (LeNet has no dropout).
        var lm = new List<float>();
        var lt = new List<float>();
        for (int i = 0; i < (batch < 64 ? 2 : 5); i++) { lm.Add(MlStep()); lt.Add(ThStep()); }
        if (compareLosses)
        {
            double maxParamDiff = 0;
            for (int i = 0; i < mlParams.Count; i++)
                maxParamDiff = Math.Max(maxParamDiff, MaxAbsDiff(mlParams[i].Value.Span, thParams[i]));
            report.Check($"{name} training, {lm.Count} Adam steps: losses MLConv [{string.Join(", ", lm.Select(v => v.ToString("F5")))}] vs torch [{string.Join(", ", lt.Select(v => v.ToString("F5")))}]; max |Δparam| after {lm.Count} steps {maxParamDiff:E2}");
        }
        else
            report.Check($"{name} training, 5 Adam steps (dropout masks differ): losses MLConv [{string.Join(", ", lm.Select(v => v.ToString("F4")))}] vs torch [{string.Join(", ", lt.Select(v => v.ToString("F4")))}]");

        var (ms, ts) = Timing.Compare(() => MlStep(), () => ThStep());
        report.Add(new Row("Train step", $"{name}, batch {batch}", ms, ts, "examples/s", batch));
        if (breakdown) Breakdown(report, name, net, x, labels, adam, loss);
    }

    /// <summary>Where MLConv's training step spends its time: per layer forward/backward, loss, Adam (median of 15 steps).</summary>
    private static void Breakdown(Report report, string name, Network net, MlTensor x, int[] labels, Adam adam, SoftmaxCrossEntropy loss)
    {
        var layers = net.Root.Layers;
        int n = layers.Count, steps = 15;
        var fwd = new double[n][];
        var bwd = new double[n][];
        for (int i = 0; i < n; i++) { fwd[i] = new double[steps]; bwd[i] = new double[steps]; }
        var lossT = new double[steps];
        var adamT = new double[steps];
        var sw = new System.Diagnostics.Stopwatch();
        for (int s = -3; s < steps; s++)
        {
            adam.ZeroGrad();
            var h = x;
            for (int i = 0; i < n; i++)
            {
                sw.Restart(); h = layers[i].Forward(h, true); sw.Stop();
                if (s >= 0) fwd[i][s] = sw.Elapsed.TotalMilliseconds;
            }
            sw.Restart();
            loss.Forward(h, labels);
            var dy = loss.Backward();
            sw.Stop();
            if (s >= 0) lossT[s] = sw.Elapsed.TotalMilliseconds;
            for (int i = n - 1; i >= 0; i--)
            {
                layers[i].ComputeInputGradient = i > 0 || net.Root.ComputeInputGradient;
                sw.Restart(); dy = layers[i].Backward(dy); sw.Stop();
                if (s >= 0) bwd[i][s] = sw.Elapsed.TotalMilliseconds;
            }
            sw.Restart(); adam.Step(); sw.Stop();
            if (s >= 0) adamT[s] = sw.Elapsed.TotalMilliseconds;
        }
        var lines = new List<(string Part, double Fwd, double Bwd)>();
        var shape = net.InputShape(x.N);
        for (int i = 0; i < n; i++)
        {
            var outShape = layers[i].OutputShape(shape);
            lines.Add(($"{i} {layers[i]} -> [{string.Join("x", outShape)}]", new Stats(fwd[i]).Median, new Stats(bwd[i]).Median));
            shape = outShape;
        }
        lines.Add(("softmax cross-entropy (fwd+grad)", new Stats(lossT).Median, 0));
        lines.Add(("Adam step", new Stats(adamT).Median, 0));
        report.AddBreakdown(name, lines);
    }

    // ---------------------------------------------------------------- helpers

    private static float[] RandomArray(Random rng, int n)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(rng.NextDouble() * 2 - 1);
        return a;
    }

    private static TorchTensor ToTorch(MlTensor t) => tensor(t.Span.ToArray(), t.ShapeArray.Select(d => (long)d).ToArray());

    private static float[] Data(TorchTensor t)
    {
        using var c = t.detach().contiguous();
        return c.data<float>().ToArray();
    }

    private static double MaxAbsDiff(ReadOnlySpan<float> a, TorchTensor t)
    {
        var b = Data(t);
        if (b.Length != a.Length) throw new InvalidOperationException($"Size mismatch: MLConv {a.Length} vs torch {b.Length}.");
        double m = 0;
        for (int i = 0; i < a.Length; i++) m = Math.Max(m, Math.Abs((double)a[i] - b[i]));
        return m;
    }

    /// <summary>"max|Δ| = 1.2e-06 (max|x| 3.4e+01)".</summary>
    private static string Diff(ReadOnlySpan<float> a, TorchTensor t)
    {
        double d = MaxAbsDiff(a, t), scale = 0;
        foreach (float v in a) scale = Math.Max(scale, Math.Abs(v));
        return $"max|Δ| {d:E1} (max|x| {scale:E1})";
    }
}
