using MLConv.Export.Onnx;
using MLConv.Training.Layers;
using MLConv.Training.Tensors;

namespace MLConv.Export.Tests.Onnx;

/// <summary>
/// Every registered layer type round-trips: spec → <see cref="LayerFactory.FromSpec"/> gives the same spec and the same
/// forward pass; ONNX export → ONNX Runtime matches MLConv; export → <see cref="OnnxImporter"/> gives the same forward pass.
/// The sample table must cover every type the registries know, so a new layer without an entry here fails. Each group of
/// layers may keep its samples in its own partial file, in a static field whose name ends in "Samples".
/// </summary>
[TestClass]
public sealed partial class LayerRegistryTests
{
    // A property, not a field: the partial files' fields are initialised in no defined order relative to one another.
    private static Dictionary<Type, (Func<Layer> Build, int[] Chw)> Samples => typeof(LayerRegistryTests)
        .GetFields(System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)
        .Where(f => f.Name.EndsWith("Samples", StringComparison.Ordinal))
        .SelectMany(f => (Dictionary<Type, (Func<Layer> Build, int[] Chw)>)f.GetValue(null)!)
        .ToDictionary(kv => kv.Key, kv => kv.Value);

    /// <summary>A network around each layer type, for an input of shape (C, H, W).</summary>
    private static readonly Dictionary<Type, (Func<Layer> Build, int[] Chw)> CoreSamples = new()
    {
        [typeof(Conv2d)] = (() => new Conv2d(4, 6, (3, 2), stride: (2, 1), padding: Padding.Explicit(1, 0, 2, 1), dilation: (1, 2), groups: 2), [4, 9, 8]),
        [typeof(MaxPool2d)] = (() => new MaxPool2d(3, 2, 1, dilation: 1, ceilMode: true), [3, 9, 8]),
        [typeof(MinPool2d)] = (() => new MinPool2d((2, 3), (2, 2), Padding.Explicit(1, 1, 0, 1)), [3, 7, 8]),
        [typeof(AvgPool2d)] = (() => new AvgPool2d(3, 2, 1, ceilMode: true, countIncludePad: true), [3, 9, 8]),
        [typeof(GlobalAvgPool2d)] = (() => new GlobalAvgPool2d(), [5, 4, 3]),
        [typeof(BatchNorm2d)] = (() => new BatchNorm2d(3, eps: 1e-3, momentum: 0.2), [3, 4, 5]),
        [typeof(ReLU)] = (() => new ReLU(), [2, 3, 4]),
        [typeof(Negate)] = (() => new Negate(), [2, 3, 4]),
        [typeof(Flatten)] = (() => new Sequential(new Flatten(), new Linear(24, 5)), [2, 3, 4]),
        [typeof(Linear)] = (() => new Sequential(new Flatten(), new Linear(24, 7, bias: false), new ReLU(), new Linear(7, 3)), [2, 3, 4]),
        [typeof(Dropout)] = (() => new Sequential(new Dropout(0.3), new ReLU()), [2, 3, 4]),
        [typeof(Softmax)] = (() => new Sequential(new Flatten(), new Linear(24, 5), new Softmax(log: true), new Linear(5, 4), new Softmax()), [2, 3, 4]),
        [typeof(LocalResponseNorm)] = (() => new LocalResponseNorm(3, 0.5, 0.75, 2), [6, 3, 4]),
        [typeof(Reshape)] = (() => new Reshape(2, -1, 4), [6, 3, 4]),
        [typeof(Transpose)] = (() => new Transpose(0, 2, 1, 3), [6, 3, 4]),
        [typeof(Sequential)] = (() => new Sequential(new Conv2d(3, 4, 3, padding: 1), new BatchNorm2d(4), new ReLU()), [3, 5, 6]),
        [typeof(Residual)] = (() => new Residual(new Sequential(new Conv2d(3, 4, 3, stride: 2, padding: 1), new ReLU()), new Conv2d(3, 4, 1, stride: 2)), [3, 5, 6]),
        [typeof(Frozen)] = (() => new Sequential(new Frozen(new Sequential(new Conv2d(3, 4, 3, padding: 1), new BatchNorm2d(4))), new ReLU()), [3, 5, 6]),
        [typeof(Graph)] = (Branches, [3, 5, 6]),
        [typeof(Concat)] = (Branches, [3, 5, 6]),
        [typeof(Sum)] = (Branches, [3, 5, 6]),
    };

    private static Layer Branches() => new Graph("x",
    [
        new GraphNode("conv", new Conv2d(3, 3, 3, padding: 1), ["x"], "a"),
        new GraphNode("cat", new Concat(), ["a", "x"], "c"),
        new GraphNode("sum", new Sum(), ["a", "x", "a"], "s"),
        new GraphNode("cat2", new Concat(1), ["c", "s"], "y"),
    ], "y");

    public static IEnumerable<object[]> Types => Samples.Keys.Select(t => new object[] { t.Name });

    [TestMethod]
    public void EveryRegisteredLayerTypeHasASample()
    {
        var registered = LayerFactory.SpecTypes.Values.Concat(OnnxLayerMappings.LayerTypes).Distinct().ToList();
        var missing = registered.Where(t => !Samples.ContainsKey(t)).Select(t => t.Name).ToList();
        Assert.IsEmpty(missing, $"Layer types without a round-trip sample: {string.Join(", ", missing)}");
        var notExportable = LayerFactory.SpecTypes.Values.Where(t => OnnxLayerMappings.For(t) is null).Select(t => t.Name).ToList();
        Assert.IsEmpty(notExportable, $"Layer types without an ONNX mapping: {string.Join(", ", notExportable)}");
        var unread = OnnxLayerMappings.LayerTypes.Where(t => !LayerFactory.SpecTypes.Values.Contains(t)).Select(t => t.Name).ToList();
        Assert.IsEmpty(unread, $"Exportable layer types that model files cannot read: {string.Join(", ", unread)}");
    }

    [TestMethod]
    [DynamicData(nameof(Types))]
    public void RoundTripsThroughSpecOnnxRuntimeAndImport(string typeName)
    {
        var (build, chw) = Samples.Single(s => s.Key.Name == typeName).Value;
        var layer = Fixtures.Randomize(build());
        var x = Fixtures.RandomTensor(new Random(3), [3, .. chw]);
        var expected = layer.Forward(x, training: false).Clone();

        // Spec: same JSON back, and the same function once the state is copied.
        var fromSpec = LayerFactory.FromSpec(layer.ToSpec());
        Assert.AreEqual(layer.ToSpec().ToJsonString(), fromSpec.ToSpec().ToJsonString());
        CopyState(layer, fromSpec);
        AssertClose(expected, fromSpec.Forward(x, training: false), $"{typeName} from its spec");

        // ONNX: ONNX Runtime agrees, and the importer reads the file back into layers computing the same.
        using var dir = new TempFolder();
        string path = dir["model.onnx"];
        OnnxExporter.Export(layer, chw, path);
        var report = OnnxVerifier.Verify(layer, path, x);
        Assert.IsTrue(report.Passed(1e-4), report.ToString());
        var model = OnnxImporter.Import(path);
        var imported = model.Root;
        // A classifier's export ends in "probabilities" = Softmax(logits), the output the importer reads.
        if (model.OutputName == OnnxExporter.ProbabilitiesName) expected = new Softmax().Forward(expected, training: false);
        AssertClose(expected, imported.Forward(x, training: false), $"{typeName} imported from ONNX");
        Assert.IsTrue(imported.Descendants().Any(l => l.GetType().Name == typeName) || typeName is "Dropout" or "Residual" or "Sequential" or "Frozen",
            $"The import of {typeName}'s export holds no {typeName}: {string.Join(", ", imported.Descendants().Select(l => l.TypeName))}");
    }

    private static void CopyState(Layer from, Layer to)
    {
        var a = from.NamedParameters().Select(p => p.Parameter.Value).Concat(from.NamedBuffers().Select(b => b.Value)).ToList();
        var b = to.NamedParameters().Select(p => p.Parameter.Value).Concat(to.NamedBuffers().Select(b => b.Value)).ToList();
        Assert.HasCount(a.Count, b);
        for (int i = 0; i < a.Count; i++) a[i].Span.CopyTo(b[i].Span);
    }

    private static void AssertClose(Tensor expected, Tensor actual, string what)
    {
        CollectionAssert.AreEqual(expected.ShapeArray, actual.ShapeArray, what);
        float scale = 0, err = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            scale = Math.Max(scale, Math.Abs(expected[i]));
            err = Math.Max(err, Math.Abs(expected[i] - actual[i]));
        }
        Assert.IsLessThanOrEqualTo(1e-5f * Math.Max(scale, 1e-6f), err, $"{what}: max |Δ| {err} at scale {scale}");
    }
}
