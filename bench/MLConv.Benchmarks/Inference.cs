using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using MLConv.Export;
using MLConv.Export.Onnx;
using MLConv.Training.Kernels;
using MLConv.Training.Layers;
using Onnx;
using MlTensor = MLConv.Training.Tensors.Tensor;

namespace MLConv.Benchmarks;

/// <summary>
/// Whole-network inference: MLConv's forward of a model imported by <see cref="OnnxImporter"/> against ONNX Runtime's
/// CPU provider on the same ONNX bytes (same input, same thread count), once as imported ("layers") and once after
/// <see cref="InferencePlan.Prepare"/> (batch norm folded into the convolution before it, ReLU fused into its output).
/// </summary>
public static class Inference
{
    /// <summary>Also time every node of each planned forward on its own (<c>--profile</c>; always in a full run).</summary>
    public static bool Profile { get; set; }

    public static void Run(Report report, int threads, string repoRoot, bool quick)
    {
        Console.WriteLine($"Whole-network inference vs ONNX Runtime (CPU provider, IntraOpNumThreads {threads})");
        if (PretrainedModels.TryResNet18OnnxPath() is { } r18)
        {
            var proto = Read(r18);
            var bytes = WithSymbolicBatch(proto, PretrainedModels.ResNet18Input);
            var model = OnnxImporter.Import(proto, new OnnxImportOptions { FreeBatch = true });
            foreach (int batch in quick ? new[] { 1, 8 } : [1, 8])
                Case(report, $"ResNet-18 pretrained (DnnImageFeaturizer), batch {batch}", model, bytes, Input(batch, 3, 224, 224, 255f, -115f), threads);
        }
        else report.Check($"ResNet-18: {PretrainedModels.ResNet18Package} {PretrainedModels.ResNet18PackageVersion} is not in the NuGet cache; skipped");

        {
            var net = Nets.MobileNetV2();
            RandomizeBatchNorm(net.Root, new Random(3));
            // Random statistics make logits of ~1e4; scale the classifier so the softmax output is not one-hot (a compare that can fail).
            var fc = net.Root.Descendants().OfType<Linear>().Last().Weight.Value.Span;
            for (int i = 0; i < fc.Length; i++) fc[i] *= 1e-3f;
            var bytes = OnnxExporter.ExportToBytes(net.Root, [3, 224, 224]);
            var model = OnnxImporter.Import(ModelProto.Parser.ParseFrom(bytes));
            Case(report, "MobileNetV2 (MLConv export, random weights), batch 1", model, bytes, Input(1, 3, 224, 224, 1f, 0f), threads);
        }

        string light = Path.Combine(repoRoot, "..", "shared", "conformance", "onnx-light-models");
        foreach (var (file, name) in new[] { ("light_squeezenet.onnx", "SqueezeNet 1.0 (light model zoo)"), ("light_resnet50.onnx", "ResNet-50 (light model zoo)") })
        {
            if (quick && file.Contains("resnet50", StringComparison.Ordinal)) continue;
            string path = Path.Combine(light, file);
            if (!File.Exists(path)) { report.Check($"{name}: {path} not found; skipped"); continue; }
            var proto = Read(path);
            var model = OnnxImporter.Import(proto);
            int[] shape = [.. model.InputShape.Select(d => d < 0 ? 1 : d)];
            // The conformance suite's input: arange(n) / n.
            var x = new MlTensor(shape);
            for (int i = 0; i < x.Length; i++) x[i] = (float)i / x.Length;
            Case(report, $"{name}, batch {shape[0]}", model, File.ReadAllBytes(path), x, threads);
            if (Profile && shape[0] == 1)
            {
                // The breakdown at batch 8 too (MLConv only: the file fixes ONNX Runtime's batch at 1).
                var free = OnnxImporter.Import(proto, new OnnxImportOptions { FreeBatch = true });
                shape[0] = 8;
                var x8 = new MlTensor(shape);
                for (int i = 0; i < x8.Length; i++) x8[i] = (float)i / x8.Length;
                using var plan = InferencePlan.Prepare(free.Root);
                Breakdown(report, $"{name}, batch 8", free.Root, x8);
            }
        }
    }

    private static void Case(Report report, string name, OnnxImportedModel model, byte[] onnx, MlTensor x, int threads)
    {
        using var options = new SessionOptions
        {
            LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR, IntraOpNumThreads = threads, InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
        };
        using var session = new InferenceSession(onnx, options);
        using var runOptions = new RunOptions();
        var data = x.Span.ToArray();
        using var input = OrtValue.CreateTensorValueFromMemory(data, [.. x.ShapeArray.Select(d => (long)d)]);
        string[] inNames = [model.InputName], outNames = [model.OutputName];
        OrtValue[] inputs = [input];
        float[] theirs = [];
        void Ort()
        {
            using var outputs = session.Run(runOptions, inNames, inputs, outNames);
            theirs = outputs[0].GetTensorDataAsSpan<float>().ToArray();
        }
        MlTensor ours = null!;
        void Ml() => ours = model.Root.Forward(x, training: false);

        Ml(); Ort();
        string plain = Compare(ours, theirs);
        var (ms, ts) = Timing.Compare(Ml, Ort);
        double macs = Training.Models.ModelSummary.Create(model.Root, x.ShapeArray).TotalMultiplyAccumulates;
        report.Add(new Row("Inference", name + ", layers as imported", ms, ts, "GFLOP/s", 2 * macs / 1e9, "ONNX Runtime"));

        using var plan = InferencePlan.Prepare(model.Root);
        Ml();
        string fused = Compare(ours, theirs);
        long before = GC.GetTotalAllocatedBytes(precise: true);
        Ml();
        long allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        var (mf, tf) = Timing.Compare(Ml, Ort);
        report.Add(new Row("Inference", name + ", inference plan", mf, tf, "GFLOP/s", 2 * macs / 1e9, "ONNX Runtime"));
        report.Check($"{name}: vs ONNX Runtime as imported {plain}; with the inference plan ({plan}) {fused}; " +
            $"bytes allocated by one planned forward once shapes settled (all threads): {allocated:N0}");
        if (Profile) Breakdown(report, name, model.Root, x);
    }

    /// <summary>
    /// Where the planned forward spends its time: every node of the model (each layer of a chain, each node of a graph)
    /// run on its own as the graph would run it, median of 15 forwards; then the same grouped by kind of layer. The last
    /// line is the whole forward timed as one call (its gap to the sum is the per-node bookkeeping).
    /// </summary>
    private static void Breakdown(Report report, string name, Layer root, MlTensor x)
    {
        var steps = new List<(string Part, string Kind, Func<double> Run)>();
        var values = new Dictionary<string, MlTensor>(StringComparer.Ordinal);
        MlTensor h = x;
        var sw = new System.Diagnostics.Stopwatch();
        double Time(Action a) { sw.Restart(); a(); sw.Stop(); return sw.Elapsed.TotalMilliseconds; }
        void Add(string label, Layer layer, Func<double> run) => steps.Add((label, Kind(layer), run));
        IEnumerable<Layer> chain = root is Sequential s ? s.Layers : [root];
        foreach (var layer in chain)
        {
            if (layer is Graph g)
            {
                foreach (var node in g.Nodes)
                {
                    var n = node;
                    string label = $"{n.Name}: {n.Layer}";
                    if (n.Layer is MultiOutputLayer mo)
                        Add(label, mo, () => Time(() => { var ys = mo.ForwardMany(Get(n.Inputs[0]), false); for (int k = 0; k < ys.Count; k++) values[n.Outputs[k]] = ys[k]; }));
                    else if (n.Layer is MultiInputLayer mi)
                    {
                        var ins = new MlTensor[n.Inputs.Count];
                        Add(label, mi, () => Time(() => { for (int k = 0; k < ins.Length; k++) ins[k] = Get(n.Inputs[k]); values[n.Output] = mi.Forward(ins, false); }));
                    }
                    else Add(label, n.Layer, () => Time(() => values[n.Output] = n.Layer.Forward(Get(n.Inputs[0]), false)));
                }
                var out0 = g.Output;
                steps.Add(("(graph output)", "", () => { h = values[out0]; return 0; }));
                steps.Add(("", "", () => { values.Clear(); return 0; }));
            }
            else
            {
                var l = layer;
                Add(l.ToString(), l, () => Time(() => h = l.Forward(h, false)));
            }
        }
        MlTensor Get(string v) => values.TryGetValue(v, out var t) ? t : h;
        int reps = 15;
        var times = new double[steps.Count][];
        for (int i = 0; i < steps.Count; i++) times[i] = new double[reps];
        var whole = new double[reps];
        for (int r = -3; r < reps; r++)
        {
            h = x;
            values.Clear();
            for (int i = 0; i < steps.Count; i++)
            {
                double t = steps[i].Run();
                if (r >= 0) times[i][r] = t;
            }
            double w = Time(() => root.Forward(x, false));
            if (r >= 0) whole[r] = w;
        }
        // One more pass for the bytes each node allocates once shapes have settled (all threads).
        var bytes = new long[steps.Count];
        h = x;
        values.Clear();
        for (int i = 0; i < steps.Count; i++)
        {
            long before = GC.GetTotalAllocatedBytes(precise: true);
            steps[i].Run();
            bytes[i] = GC.GetTotalAllocatedBytes(precise: true) - before;
        }
        var lines = new List<(string Part, double Fwd, double Bwd)>();
        var kinds = new Dictionary<string, (double Ms, int Count, long Bytes)>(StringComparer.Ordinal);
        for (int i = 0; i < steps.Count; i++)
        {
            if (steps[i].Kind.Length == 0) continue;
            double med = new Stats(times[i]).Median;
            lines.Add(($"{steps[i].Part} [{bytes[i]:N0} B]", med, 0));
            var (ms, c, b) = kinds.GetValueOrDefault(steps[i].Kind);
            kinds[steps[i].Kind] = (ms + med, c + 1, b + bytes[i]);
        }
        var byKind = kinds.OrderByDescending(k => k.Value.Ms).Select(k => ($"{k.Key} ({k.Value.Count}x; {k.Value.Bytes:N0} B allocated)", k.Value.Ms, 0.0)).ToList();
        byKind.Add(("whole planned forward, one call (not in the sum)", new Stats(whole).Median, 0.0));
        report.AddProfile($"{name}, by node", lines, markdown: false);
        report.AddProfile($"{name}, by kind of layer", byKind, markdown: true);
    }

    /// <summary>A layer's kind for the breakdown: its type, and for a convolution its kernel, stride and whether it is depthwise.</summary>
    private static string Kind(Layer layer) => layer switch
    {
        Conv2d c => $"Conv2d {c.KernelSize.H}x{c.KernelSize.W}{(c.Stride != (Size2)1 ? $" s{c.Stride.H}" : "")}{(c.IsDepthwise ? " depthwise" : c.Groups > 1 ? " grouped" : "")}{(c.InChannels <= 4 ? " stem" : "")}",
        _ => layer.TypeName,
    };

    private static string Compare(MlTensor ours, float[] theirs)
    {
        if (ours.Length != theirs.Length) return $"size mismatch {ours.Length} vs {theirs.Length}";
        double err = 0, scale = 0;
        var a = ours.Span;
        for (int i = 0; i < a.Length; i++) { err = Math.Max(err, Math.Abs((double)a[i] - theirs[i])); scale = Math.Max(scale, Math.Abs(theirs[i])); }
        return $"max|Δ| {err:E1} (max|y| {scale:E1})";
    }

    private static MlTensor Input(int n, int c, int h, int w, float scale, float offset)
    {
        var rng = new Random(20 + n);
        var x = new MlTensor(n, c, h, w);
        for (int i = 0; i < x.Length; i++) x[i] = scale * rng.NextSingle() + offset;
        return x;
    }

    /// <summary>Running statistics and affine parameters away from 0/1, so folding them is not a no-op.</summary>
    public static void RandomizeBatchNorm(Layer root, Random rng)
    {
        foreach (var bn in root.Descendants().OfType<BatchNorm2d>())
            for (int c = 0; c < bn.NumFeatures; c++)
            {
                bn.Gamma.Value[c] = 0.5f + rng.NextSingle();
                bn.Beta.Value[c] = rng.NextSingle() - 0.5f;
                bn.RunningMean[c] = 0.2f * (rng.NextSingle() - 0.5f);
                bn.RunningVar[c] = 0.5f + rng.NextSingle();
            }
    }

    private static ModelProto Read(string path)
    {
        using var stream = File.OpenRead(path);
        return ModelProto.Parser.ParseFrom(stream);
    }

    /// <summary>A copy whose input and outputs have a symbolic batch (the CNTK file fixes it at 1), so ONNX Runtime runs any batch.</summary>
    private static byte[] WithSymbolicBatch(ModelProto model, string inputName)
    {
        var copy = model.Clone();
        var g = copy.Graph;
        foreach (var v in g.Input.Where(i => i.Name == inputName).Concat(g.Output))
            v.Type.TensorType.Shape.Dim[0] = new TensorShapeProto.Types.Dimension { DimParam = "N" };
        g.ValueInfo.Clear();
        return copy.ToByteArray();
    }
}
