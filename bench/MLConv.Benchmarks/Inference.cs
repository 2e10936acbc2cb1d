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
    }

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
