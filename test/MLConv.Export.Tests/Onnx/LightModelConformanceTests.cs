using Onnx;
using System.Diagnostics;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using MLConv.Export.Onnx;
using MLConv.Training.Layers;
using MLConv.Training.Models;
using MLConv.Training.Tensors;

namespace MLConv.Export.Tests.Onnx;

/// <summary>
/// Conformance against the ONNX backend suite's light model zoo (../shared/conformance/onnx-light-models,
/// see its README): whole architectures whose weights are ConstantOfShape nodes. Each is imported into
/// MLConv layers (a Graph where the network branches), fed the suite's input arange(n).reshape(shape)/n
/// (float32; a dimension without a value counts as 1) and MLConv's own inference forward is compared
/// with the stored output at the suite's tolerance, |out − ref| ≤ atol + rtol·|ref|, rtol 1e-3, atol 1e-7.
/// <para>
/// Every weight of those files is the same constant, so every stored output is exactly 1/1000 per class: it
/// checks the import and the output's shape, little of the arithmetic. The second test therefore gives each
/// architecture random weights (the ConstantOfShape nodes become random initializers), drops the final
/// Softmax, and compares MLConv's logits with ONNX Runtime's on the same file and a random image.
/// </para>
/// </summary>
[TestClass]
public sealed class LightModelConformanceTests
{
    private const double Rtol = 1e-3, Atol = 1e-7;

    public TestContext TestContext { get; set; } = null!;

    private static string SuiteFolder() => ConformanceData.Suite("onnx-light-models");

    /// <summary>The suite's input: arange(n).reshape(shape) / n in float32, n the element count.</summary>
    private static Tensor ArangeInput(int[] shape)
    {
        int[] dims = [.. shape.Select(d => d < 0 ? 1 : d)];
        var x = new Tensor(dims);
        int n = x.Length;
        for (int i = 0; i < n; i++) x[i] = (float)((double)i / n);
        return x;
    }

    /// <param name="parameters">The architecture's published parameter count (Caffe's bvlc_alexnet; torchvision's
    /// vgg19, resnet50, squeezenet1_1), or 0 where none is published to check the import against.</param>
    [TestMethod]
    [DataRow("bvlc_alexnet", false, 60_965_224L)]
    [DataRow("zfnet512", false, 0L)]
    [DataRow("vgg19", false, 143_667_240L)]
    [DataRow("resnet50", true, 25_557_032L)]
    [DataRow("squeezenet", true, 1_235_496L)]
    [DataRow("shufflenet", true, 0L)]
    [DataRow("inception_v1", true, 0L)]
    public void ForwardMatchesReference(string name, bool branches, long parameters)
    {
        string suite = SuiteFolder();
        string modelPath = Path.Combine(suite, $"light_{name}.onnx");
        if (!File.Exists(modelPath)) Assert.Inconclusive($"The conformance model {modelPath} is missing.");
        var watch = Stopwatch.StartNew();
        var model = OnnxImporter.Import(modelPath);
        var importTime = watch.Elapsed;
        Assert.AreEqual(branches, model.Root.Layers.Count == 1 && model.Root[0] is Graph, $"{name}: imports as a Graph exactly when it branches");
        var expected = OnnxTensors.ReadFile(Path.Combine(suite, $"light_{name}_output_0.pb"));
        var x = ArangeInput(model.InputShape);

        watch.Restart();
        var actual = model.Root.Forward(x, training: false);
        var forwardTime = watch.Elapsed;
        CollectionAssert.AreEqual(expected.ShapeArray, actual.ShapeArray, $"{name}: output shape");
        var e = expected.Span;
        var a = actual.Span;
        double worstExcess = double.NegativeInfinity, maxAbs = 0, maxRel = 0;
        int worstAt = -1;
        for (int i = 0; i < e.Length; i++)
        {
            double diff = Math.Abs((double)a[i] - e[i]);
            maxAbs = Math.Max(maxAbs, diff);
            if (e[i] != 0) maxRel = Math.Max(maxRel, diff / Math.Abs(e[i]));
            double excess = diff - (Atol + Rtol * Math.Abs(e[i]));
            if (!(excess <= worstExcess)) { worstExcess = excess; worstAt = i; }
        }
        var summary = ModelSummary.Create(model.Root, x.ShapeArray);
        TestContext.WriteLine($"{name}: {summary.TotalParameters:N0} parameters, {summary.TotalMultiplyAccumulates / 1e9:F2} G mult-adds");
        if (parameters > 0) Assert.AreEqual(parameters, summary.TotalParameters, $"{name}: parameter count");
        TestContext.WriteLine($"{name}: import {importTime.TotalSeconds:F2} s, forward {forwardTime.TotalSeconds:F2} s, " +
            $"max abs error {maxAbs:E2}, max rel error {maxRel:E2}");
        Assert.IsLessThanOrEqualTo(0, worstExcess,
            $"{name}: element {worstAt} is {a[worstAt]}, the reference {e[worstAt]} (max abs error {maxAbs:E2}, max rel error {maxRel:E2})");
    }

    [TestMethod]
    [DataRow("bvlc_alexnet")]
    [DataRow("zfnet512")]
    [DataRow("vgg19")]
    [DataRow("resnet50")]
    [DataRow("squeezenet")]
    [DataRow("shufflenet")]
    [DataRow("inception_v1")]
    public void RandomWeightsMatchOnnxRuntime(string name)
    {
        string modelPath = Path.Combine(SuiteFolder(), $"light_{name}.onnx");
        if (!File.Exists(modelPath)) Assert.Inconclusive($"The conformance model {modelPath} is missing.");
        var watch = Stopwatch.StartNew();
        ModelProto proto;
        using (var stream = File.OpenRead(modelPath)) proto = ModelProto.Parser.ParseFrom(stream);
        string logits = Randomize(proto, seed: 5);
        var model = OnnxImporter.Import(proto);
        Assert.AreEqual(logits, model.OutputName);
        var importTime = watch.Elapsed;

        // Pixel-like values in [0, 255): the LRN layers of AlexNet, ZFNet and GoogLeNet then normalise visibly (α·Σx² ~ 1).
        var rng = new Random(6);
        var x = new Tensor([.. model.InputShape.Select(d => d < 0 ? 1 : d)]);
        for (int i = 0; i < x.Length; i++) x[i] = 255f * rng.NextSingle();

        watch.Restart();
        var ours = model.Root.Forward(x, training: false).Clone();
        var forwardTime = watch.Elapsed;
        watch.Restart();
        using var options = new SessionOptions { LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR };
        using var session = new InferenceSession(proto.ToByteArray(), options);
        using var input = OrtValue.CreateTensorValueFromMemory(x.Span.ToArray(), [.. x.ShapeArray.Select(d => (long)d)]);
        using var runOptions = new RunOptions();
        using var outputs = session.Run(runOptions, [model.InputName], [input], [logits]);
        var ortTime = watch.Elapsed;
        var shape = outputs[0].GetTensorTypeAndShape().Shape.Select(d => (int)d).ToArray();
        var c = OnnxVerifier.Compare(OnnxVerifier.Cpu, logits, ours, shape, outputs[0].GetTensorDataAsSpan<float>());
        TestContext.WriteLine($"{name}: randomise and import {importTime.TotalSeconds:F2} s, forward {forwardTime.TotalSeconds:F2} s, ONNX Runtime {ortTime.TotalSeconds:F2} s; " +
            $"logits scale {c.ReferenceScale:G4}, max abs error {c.MaxAbsoluteError:E2}, relative to the scale {c.MaxRelativeError:E2}");
        Assert.IsTrue(c.ShapesMatch, $"{name}: MLConv gives [{ours.ShapeString}], ONNX Runtime [{string.Join(", ", shape)}]");
        Assert.IsGreaterThan(0.0, c.ReferenceScale, $"{name}: the logits are all zero; the comparison would prove nothing");
        // Float32 sums in a different order over up to ~60 layers: agreement to 1e-4 of the logits' scale, as OnnxVerifier asks.
        Assert.IsLessThanOrEqualTo(1e-4, c.MaxRelativeError, $"{name}: max abs error {c.MaxAbsoluteError:E2} at logits scale {c.ReferenceScale:G4}");
    }

    /// <summary>
    /// An imported Graph (random weights, as above) exported by MLConv node by node — Concat, Sum, Reshape,
    /// Transpose, LRN — and run under ONNX Runtime on a batch of 2 (the Reshapes keep the batch symbolic).
    /// </summary>
    [TestMethod]
    [DataRow("shufflenet")]
    [DataRow("inception_v1")]
    public void ImportedGraphExportsBackAndMatchesOnnxRuntime(string name)
    {
        string modelPath = Path.Combine(SuiteFolder(), $"light_{name}.onnx");
        if (!File.Exists(modelPath)) Assert.Inconclusive($"The conformance model {modelPath} is missing.");
        ModelProto proto;
        using (var stream = File.OpenRead(modelPath)) proto = ModelProto.Parser.ParseFrom(stream);
        Randomize(proto, seed: 8);
        var model = OnnxImporter.Import(proto);
        Assert.IsInstanceOfType<Graph>(model.Root.Layers.Single());
        int[] chw = [.. model.InputShape.Skip(1)];
        using var dir = new TempFolder();
        var report = OnnxExporter.Export(model.Root, chw, dir["again.onnx"]);
        var rng = new Random(9);
        var x = new Tensor([2, .. chw]);
        for (int i = 0; i < x.Length; i++) x[i] = 255f * rng.NextSingle();
        var verification = OnnxVerifier.Verify(model.Root, dir["again.onnx"], x);
        TestContext.WriteLine($"{name}: {report.Nodes} nodes exported\n{verification}");
        Assert.IsTrue(verification.Passed(1e-4), verification.ToString());
    }

    /// <summary>
    /// Turns each ConstantOfShape into an initializer of random values — weights (rank ≥ 2) He-uniform,
    /// U(±√(6/fan-in)); BatchNormalization scales and variances U[0.5, 1.5); other vectors U[−0.5, 0.5) —
    /// and removes a final Softmax. Returns the name of the new output (the logits).
    /// </summary>
    private static string Randomize(ModelProto model, int seed)
    {
        var g = model.Graph;
        var shapes = g.Initializer.Where(OnnxTensors.IsInteger).ToDictionary(t => t.Name, t => OnnxTensors.ToInt64s(t, out _));
        var positive = g.Node.Where(n => n.OpType == "BatchNormalization").SelectMany(n => new[] { n.Input[1], n.Input[4] }).ToHashSet();
        var rng = new Random(seed);
        foreach (var node in g.Node.Where(n => n.OpType == "ConstantOfShape").ToList())
        {
            long[] dims = shapes[node.Input[0]];
            long count = dims.Aggregate(1L, (a, b) => a * b);
            var values = new float[count];
            float lo, width;
            if (dims.Length >= 2)
            {
                float bound = (float)Math.Sqrt(6.0 / (count / dims[0]));
                (lo, width) = (-bound, 2 * bound);
            }
            else (lo, width) = positive.Contains(node.Output[0]) ? (0.5f, 1f) : (-0.5f, 1f);
            for (long i = 0; i < count; i++) values[i] = lo + width * rng.NextSingle();
            g.Node.Remove(node);
            g.Initializer.Remove(g.Initializer.Single(t => t.Name == node.Input[0]));
            if (g.Input.FirstOrDefault(i => i.Name == node.Input[0]) is { } listed) g.Input.Remove(listed);
            g.Initializer.Add(OnnxTensors.FromFloats(node.Output[0], values, dims));
            // IR version 3 lists every initializer among the graph inputs.
            var type = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = new TensorShapeProto() };
            foreach (long d in dims) type.Shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
            g.Input.Add(new ValueInfoProto { Name = node.Output[0], Type = new TypeProto { TensorType = type } });
        }
        var output = g.Output.Single();
        var last = g.Node.Single(n => n.Output.Contains(output.Name));
        if (last.OpType == "Softmax")
        {
            g.Node.Remove(last);
            output.Name = last.Input[0];
        }
        return output.Name;
    }
}
