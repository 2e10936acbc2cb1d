using System.Diagnostics;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using MLConv.Export.Onnx;
using MLConv.Training.Layers;
using MLConv.Training.Models;
using MLConv.Training.Tensors;
using Onnx;

namespace MLConv.Export.Tests.Onnx;

/// <summary>
/// The pretrained ImageNet ResNet-18 of Microsoft.ML.DnnImageFeaturizer.ResNet18 0.23.1 (a CNTK export, opset 8; the
/// test project downloads the package into the NuGet cache): imported into MLConv layers, its 512 pooled features
/// match ONNX Runtime's within 1e-4 of their scale at batch 1 and 8, and every imported layer trains.
/// </summary>
[TestClass]
public sealed class PretrainedResNet18Tests
{
    public TestContext TestContext { get; set; } = null!;

    private static string ModelPath()
    {
        var path = PretrainedModels.TryResNet18OnnxPath();
        if (path is null) Assert.Inconclusive($"{PretrainedModels.ResNet18Package} {PretrainedModels.ResNet18PackageVersion} is not restored (no ResNet18.onnx).");
        return path;
    }

    private static ModelProto Read(string path)
    {
        using var stream = File.OpenRead(path);
        return ModelProto.Parser.ParseFrom(stream);
    }

    /// <summary>Input images as ResNetPreprocess.onnx makes them: pixels 0..255 less a mean around 115.</summary>
    private static Tensor Images(int batch, int size, int seed)
    {
        var rng = new Random(seed);
        var x = new Tensor(batch, 3, size, size);
        for (int i = 0; i < x.Length; i++) x[i] = 255f * rng.NextSingle() - 115f;
        return x;
    }

    /// <summary>A copy whose input and output have a symbolic batch (the file fixes it at 1), so ONNX Runtime runs any batch.</summary>
    private static byte[] WithSymbolicBatch(ModelProto model)
    {
        var copy = model.Clone();
        var g = copy.Graph;
        foreach (var v in g.Input.Where(i => i.Name is PretrainedModels.ResNet18Input or PretrainedModels.PreprocessInput).Concat(g.Output))
            v.Type.TensorType.Shape.Dim[0] = new TensorShapeProto.Types.Dimension { DimParam = "N" };
        g.ValueInfo.Clear();
        return copy.ToByteArray();
    }

    private static double MedianSeconds(int runs, Action run)
    {
        var times = new List<double>();
        for (int i = 0; i < runs; i++)
        {
            var watch = Stopwatch.StartNew();
            run();
            times.Add(watch.Elapsed.TotalSeconds);
        }
        return times.Order().ElementAt(runs / 2);
    }

    [TestMethod]
    public void ImportsAndMatchesOnnxRuntimeAtBatch1And8()
    {
        var proto = Read(ModelPath());
        var watch = Stopwatch.StartNew();
        var model = OnnxImporter.Import(proto, new OnnxImportOptions { FreeBatch = true });
        TestContext.WriteLine($"import {watch.Elapsed.TotalSeconds:F2} s");
        Assert.AreEqual(PretrainedModels.ResNet18Input, model.InputName);
        Assert.AreEqual(PretrainedModels.ResNet18Features, model.OutputName);
        CollectionAssert.AreEqual(new[] { -1, 3, 224, 224 }, model.InputShape);
        var summary = ModelSummary.Create(model.Root, [1, 3, 224, 224]);
        // CNTK's ResNet-18 (blocks 2, 2, 2, 3; 22 convolutions, no classifier): every float initializer becomes a
        // parameter except the batch norms' running mean and variance (inputs 3 and 4), which become buffers.
        var statistics = proto.Graph.Node.Where(n => n.OpType == "BatchNormalization").SelectMany(n => n.Input.Skip(3)).ToHashSet();
        long expected = proto.Graph.Initializer.Where(t => !statistics.Contains(t.Name)).Sum(t => t.Dims.Aggregate(1L, (a, d) => a * d));
        Assert.AreEqual(15_897_152L, expected, "the file's parameter count");
        Assert.AreEqual(expected, summary.TotalParameters, "parameter count");
        TestContext.WriteLine($"{summary.TotalParameters:N0} parameters, {summary.TotalMultiplyAccumulates / 1e9:F2} G mult-adds per image; " +
            $"layers: {string.Join(", ", model.Root.Descendants().Skip(1).GroupBy(l => l.TypeName).Select(g => $"{g.Key} ×{g.Count()}"))}");

        using var options = new SessionOptions { LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR, IntraOpNumThreads = 2 };
        using var session = new InferenceSession(WithSymbolicBatch(proto), options);
        using var runOptions = new RunOptions();
        foreach (int batch in new[] { 1, 8 })
        {
            var x = Images(batch, 224, seed: 20 + batch);
            Tensor ours = null!;
            double mlconv = MedianSeconds(3, () => ours = model.Root.Forward(x, training: false));
            float[] theirs = null!;
            int[] shape = null!;
            double ort = MedianSeconds(3, () =>
            {
                using var input = OrtValue.CreateTensorValueFromMemory(x.Span.ToArray(), [.. x.ShapeArray.Select(d => (long)d)]);
                using var outputs = session.Run(runOptions, [model.InputName], [input], [model.OutputName]);
                shape = [.. outputs[0].GetTensorTypeAndShape().Shape.Select(d => (int)d)];
                theirs = outputs[0].GetTensorDataAsSpan<float>().ToArray();
            });
            var c = OnnxVerifier.Compare(OnnxVerifier.Cpu, model.OutputName, ours, shape, theirs);
            TestContext.WriteLine($"batch {batch}: MLConv {mlconv:F3} s, ONNX Runtime {ort:F3} s (median of 3; {Environment.ProcessorCount} processors, ORT 2 threads); " +
                $"features scale {c.ReferenceScale:G4}, max abs error {c.MaxAbsoluteError:E2}, relative to the scale {c.MaxRelativeError:E2}");
            Assert.IsTrue(c.ShapesMatch, $"batch {batch}: MLConv gives [{ours.ShapeString}], ONNX Runtime [{string.Join(", ", shape)}]");
            CollectionAssert.AreEqual(new[] { batch, 512, 1, 1 }, shape);
            Assert.IsGreaterThan(0.0, c.ReferenceScale, "the features are all zero; the comparison would prove nothing");
            Assert.IsLessThanOrEqualTo(1e-4, c.MaxRelativeError, $"batch {batch}: max abs error {c.MaxAbsoluteError:E2} at scale {c.ReferenceScale:G4}");
        }
    }

    /// <summary>
    /// The package's ResNetPreprocess.onnx (Split of the RGB planes, Concat as BGR, Sub of a [1, 3, 224, 224] mean image)
    /// imports as Split, Concat and a TensorOperand holding the mean image, and matches ONNX Runtime at batch 1 and 8.
    /// </summary>
    [TestMethod]
    public void PreprocessingImportsAndMatchesOnnxRuntimeAtBatch1And8()
    {
        var path = PretrainedModels.TryResNetPreprocessOnnxPath();
        if (path is null) Assert.Inconclusive($"{PretrainedModels.ResNet18Package} {PretrainedModels.ResNet18PackageVersion} is not restored (no ResNetPreprocess.onnx).");
        var proto = Read(path);
        var model = OnnxImporter.Import(proto, new OnnxImportOptions { FreeBatch = true });
        Assert.AreEqual(PretrainedModels.PreprocessInput, model.InputName);
        Assert.AreEqual(PretrainedModels.PreprocessOutput, model.OutputName);
        Assert.AreEqual("Split, Concat, TensorOperand",
            string.Join(", ", model.Root.Descendants().Where(l => l is not (Sequential or Graph)).Select(l => l.TypeName)));

        using var options = new SessionOptions { LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR, IntraOpNumThreads = 2 };
        using var session = new InferenceSession(WithSymbolicBatch(proto), options);
        using var runOptions = new RunOptions();
        foreach (int batch in new[] { 1, 8 })
        {
            var x = new Tensor(batch, 3, 224, 224);
            var rng = new Random(50 + batch);
            for (int i = 0; i < x.Length; i++) x[i] = 255f * rng.NextSingle();
            var ours = model.Root.Forward(x, training: false);
            using var input = OrtValue.CreateTensorValueFromMemory(x.Span.ToArray(), [.. x.ShapeArray.Select(d => (long)d)]);
            using var outputs = session.Run(runOptions, [model.InputName], [input], [model.OutputName]);
            int[] shape = [.. outputs[0].GetTensorTypeAndShape().Shape.Select(d => (int)d)];
            var c = OnnxVerifier.Compare(OnnxVerifier.Cpu, model.OutputName, ours, shape, outputs[0].GetTensorDataAsSpan<float>());
            TestContext.WriteLine($"batch {batch}: scale {c.ReferenceScale:G4}, max abs error {c.MaxAbsoluteError:E2}, relative {c.MaxRelativeError:E2}");
            Assert.IsTrue(c.ShapesMatch, $"batch {batch}: MLConv gives [{ours.ShapeString}], ONNX Runtime [{string.Join(", ", shape)}]");
            Assert.IsGreaterThan(100.0, c.ReferenceScale, "pixels less a mean near 115 reach beyond 100");
            Assert.IsLessThanOrEqualTo(1e-4, c.MaxRelativeError, $"batch {batch}: max abs error {c.MaxAbsoluteError:E2} at scale {c.ReferenceScale:G4}");
        }
    }

    /// <summary>The import options on a small file shaped like CNTK's (batch fixed at 1, global pool as a whole-map AveragePool); needs no package.</summary>
    [TestMethod]
    public void OptionsFreeAFixedBatchAndAWholeMapPool()
    {
        var net = new Sequential(new Conv2d(3, 4, 3), new AvgPool2d(6));
        var proto = ModelProto.Parser.ParseFrom(OnnxExporter.ExportToBytes(net, [3, 8, 8]));
        proto.Graph.Input[0].Type.TensorType.Shape.Dim[0] = new TensorShapeProto.Types.Dimension { DimValue = 1 };

        var pinned = OnnxImporter.Import(proto);
        CollectionAssert.AreEqual(new[] { 1, 3, 8, 8 }, pinned.InputShape);
        Assert.IsInstanceOfType<AvgPool2d>(pinned.Root[1]);

        var freed = OnnxImporter.Import(proto, new OnnxImportOptions { FreeBatch = true, WholeWindowPoolingAsGlobal = true });
        CollectionAssert.AreEqual(new[] { -1, 3, 8, 8 }, freed.InputShape);
        Assert.IsInstanceOfType<GlobalAvgPool2d>(freed.Root[1]);
        var x = Images(3, 8, seed: 40);
        var a = pinned.Root.Forward(x, training: false).Span.ToArray();
        var b = freed.Root.Forward(x, training: false).Span.ToArray();
        for (int i = 0; i < a.Length; i++) Assert.AreEqual(a[i], b[i], 1e-5 * Math.Max(1, Math.Abs(a[i])), $"element {i}");
        CollectionAssert.AreEqual(new[] { 2, 4, 1, 1 }, freed.Root.Forward(Images(2, 13, seed: 41), training: false).ShapeArray);
    }

    /// <summary>
    /// The 7×7 average pool over the last 7×7 map reads as a global pool (the same features at 224 px), so other sizes
    /// work: one training-mode forward and backward on 2 images of 64 px gives every parameter a finite gradient,
    /// nonzero somewhere in each tensor.
    /// </summary>
    [TestMethod]
    public void EveryImportedLayerTrainsAtASmallerSize()
    {
        var proto = Read(ModelPath());
        var model = OnnxImporter.Import(proto, new OnnxImportOptions { FreeBatch = true, WholeWindowPoolingAsGlobal = true });
        var root = model.Root;
        Assert.IsFalse(root.Descendants().OfType<AvgPool2d>().Any(), "the whole-map average pool reads as GlobalAvgPool2d");
        Assert.AreEqual(1, root.Descendants().OfType<GlobalAvgPool2d>().Count());
        var image = Images(1, 224, seed: 29);
        var plain = OnnxImporter.Import(proto).Root.Forward(image, training: false).Span.ToArray();
        var global = root.Forward(image, training: false).Span.ToArray();
        double scale = plain.Max(Math.Abs), error = plain.Zip(global, (a, b) => Math.Abs((double)a - b)).Max();
        Assert.IsLessThanOrEqualTo(1e-6 * scale, error, "the global pool gives the 7×7 pool's features at 224 px");

        var x = Images(2, 64, seed: 30);
        var watch = Stopwatch.StartNew();
        var y = root.Forward(x, training: true);
        CollectionAssert.AreEqual(new[] { 2, 512, 1, 1 }, y.ShapeArray);
        foreach (var p in root.AllParameters()) p.Grad.Fill(0f);
        var dy = Fixtures.RandomTensor(new Random(31), y.ShapeArray);
        var dx = root.Backward(dy);
        TestContext.WriteLine($"training forward + backward at [2, 3, 64, 64]: {watch.Elapsed.TotalSeconds:F2} s");
        CollectionAssert.AreEqual(x.ShapeArray, dx.ShapeArray);
        Assert.IsTrue(dx.Span.ToArray().All(float.IsFinite), "input gradient is finite");
        foreach (var (path, p) in root.NamedParameters())
        {
            var g = p.Grad.Span.ToArray();
            Assert.IsTrue(g.All(float.IsFinite), $"{path}: gradient is finite");
            Assert.IsTrue(g.Any(v => v != 0f), $"{path}: gradient is zero everywhere");
        }
    }
}
