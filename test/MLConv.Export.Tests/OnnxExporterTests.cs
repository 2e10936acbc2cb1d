using Onnx;
using MLConv.Export.Onnx;
using MLConv.Training.Layers;
using MLConv.Training.Models;
using MLConv.Training.Tensors;
using System.Text.Json.Nodes;

namespace MLConv.Export.Tests;

/// <summary>
/// Every layer mapping against ONNX Runtime: random weights, random non-square inputs, batch > 1,
/// agreement within 1e-4 of the output's scale (<see cref="Fixtures.AssertMatchesOrt"/>).
/// </summary>
[TestClass]
public sealed class OnnxExporterTests
{
    [TestMethod]
    [DataRow("standard")]
    [DataRow("strided, asymmetric explicit padding")]
    [DataRow("dilated")]
    [DataRow("grouped")]
    [DataRow("depthwise with multiplier")]
    [DataRow("1x1")]
    [DataRow("rectangular kernel")]
    [DataRow("same padding, even kernel")]
    [DataRow("no bias")]
    public void Conv2dMatchesOnnxRuntime(string variant)
    {
        Layer conv = variant switch
        {
            "standard" => new Conv2d(4, 6, 3),
            "strided, asymmetric explicit padding" => new Conv2d(4, 5, (3, 4), stride: (2, 3), padding: Padding.Explicit(1, 2, 0, 1)),
            "dilated" => new Conv2d(4, 6, 3, padding: 2, dilation: (2, 3)),
            "grouped" => new Conv2d(4, 6, (3, 2), groups: 2),
            "depthwise with multiplier" => new Conv2d(4, 8, 3, padding: 1, groups: 4),
            "1x1" => new Conv2d(4, 7, 1),
            "rectangular kernel" => new Conv2d(4, 3, (1, 5), padding: (0, 2)),
            "same padding, even kernel" => new Conv2d(4, 5, (4, 2), padding: Padding.Same),
            "no bias" => new Conv2d(4, 5, 3, stride: 2, bias: false),
            _ => throw new ArgumentOutOfRangeException(nameof(variant)),
        };
        var report = Fixtures.AssertMatchesOrt(conv, [4, 9, 7]);
        Assert.HasCount(1, report.Results[OnnxVerifier.Cpu], "a 4-D output exports only 'logits'");
    }

    [TestMethod]
    [DataRow("max")]
    [DataRow("max, stride + padding + ceil_mode")]
    [DataRow("max, dilation")]
    [DataRow("max, asymmetric padding, rectangular")]
    [DataRow("min, stride + padding")]
    [DataRow("min, dilation + ceil_mode")]
    [DataRow("avg, count_include_pad")]
    [DataRow("avg, no count_include_pad")]
    [DataRow("avg, ceil_mode + count_include_pad")]
    [DataRow("avg, ceil_mode, no count_include_pad")]
    [DataRow("global avg")]
    public void PoolingMatchesOnnxRuntime(string variant)
    {
        Layer pool = variant switch
        {
            "max" => new MaxPool2d(2),
            "max, stride + padding + ceil_mode" => new MaxPool2d(3, stride: 2, padding: 1, ceilMode: true),
            "max, dilation" => new MaxPool2d(3, stride: 1, padding: 1, dilation: (2, 3)),
            "max, asymmetric padding, rectangular" => new MaxPool2d((2, 3), stride: (2, 1), padding: Padding.Explicit(0, 1, 1, 0)),
            "min, stride + padding" => new MinPool2d(3, stride: 2, padding: 1),
            "min, dilation + ceil_mode" => new MinPool2d((2, 3), stride: 2, padding: 1, dilation: 2, ceilMode: true),
            "avg, count_include_pad" => new AvgPool2d(3, stride: 2, padding: 1),
            "avg, no count_include_pad" => new AvgPool2d(3, stride: 2, padding: 1, countIncludePad: false),
            "avg, ceil_mode + count_include_pad" => new AvgPool2d(3, stride: 2, padding: 1, ceilMode: true),
            "avg, ceil_mode, no count_include_pad" => new AvgPool2d((3, 2), stride: 2, padding: (1, 1), ceilMode: true, countIncludePad: false),
            "global avg" => new GlobalAvgPool2d(),
            _ => throw new ArgumentOutOfRangeException(nameof(variant)),
        };
        Fixtures.AssertMatchesOrt(pool, [3, 11, 8]);
    }

    [TestMethod]
    public void BatchNormWithRunningStatisticsMatchesOnnxRuntime()
    {
        var bn = new BatchNorm2d(5, eps: 1e-3, momentum: 0.2);
        Fixtures.AssertMatchesOrt(bn, [5, 6, 4], batch: 4);
        Assert.AreNotEqual(0f, bn.RunningMean[0], "the statistics must be non-trivial");
    }

    [TestMethod]
    [DataRow(19, true)]
    [DataRow(19, false)]
    [DataRow(9, false)]  // Gemm-9: C is required, so a zero bias is written
    public void LinearMatchesOnnxRuntime(int opset, bool bias)
    {
        var net = new Sequential(new Flatten(), new Linear(2 * 5 * 3, 7, bias), new ReLU(), new Linear(7, 4));
        var report = Fixtures.AssertMatchesOrt(net, [2, 5, 3], batch: 5, new OnnxExportOptions { Opset = opset });
        CollectionAssert.AreEquivalent(new[] { "logits", "probabilities" }, report.Results[OnnxVerifier.Cpu].Select(c => c.Output).ToArray());
    }

    [TestMethod]
    public void ResidualWithIdentityShortcutMatchesOnnxRuntime() =>
        Fixtures.AssertMatchesOrt(
            new Residual(new Sequential(new Conv2d(4, 4, 3, padding: 1), new BatchNorm2d(4), new ReLU(), new Conv2d(4, 4, (3, 1), padding: (1, 0)))),
            [4, 7, 5]);

    [TestMethod]
    public void ResidualWithProjectionShortcutMatchesOnnxRuntime() =>
        Fixtures.AssertMatchesOrt(
            new Sequential(
                new Residual(
                    new Sequential(new Conv2d(4, 6, 3, stride: 2, padding: 1), new BatchNorm2d(6), new ReLU(), new Conv2d(6, 6, 3, padding: 1)),
                    new Sequential(new Conv2d(4, 6, 1, stride: 2, bias: false), new BatchNorm2d(6))),
                new ReLU()),
            [4, 9, 6], options: new OnnxExportOptions { FoldBatchNorm = true });

    private static Network SmallNetwork(int seed = 3)
    {
        var root = new Sequential(
            new Conv2d(3, 8, 3, padding: 1), new BatchNorm2d(8), new ReLU(), new MaxPool2d(2),
            new Conv2d(8, 12, 3, stride: 2, padding: 1, bias: false), new BatchNorm2d(12), new ReLU(), new Dropout(0.3),
            new Residual(new Sequential(new Conv2d(12, 12, 3, padding: 1), new BatchNorm2d(12))),
            new AvgPool2d(2, ceilMode: true), new Flatten(), new Linear(12 * 2 * 2, 5));
        return new Network(Fixtures.Randomize(root, seed), 3, 14, 10) { Architecture = "small-test" };
    }

    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void SmallNetworkMatchesOnnxRuntimeWithAndWithoutFolding(bool fold)
    {
        var net = SmallNetwork();
        using var dir = new TempFolder();
        var export = OnnxExporter.Export(net, dir["net.onnx"], new OnnxExportOptions { FoldBatchNorm = fold });
        var report = OnnxVerifier.Verify(net, dir["net.onnx"], Fixtures.RandomTensor(new Random(5), [6, 3, 14, 10]));
        Assert.IsTrue(report.Passed(1e-4), report.ToString());
        Assert.AreEqual(fold ? 3 : 0, export.FoldedBatchNorms);
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(dir["net.onnx"]));
        Assert.AreEqual(fold ? 0 : 3, model.Graph.Node.Count(n => n.OpType == "BatchNormalization"));
        Assert.AreEqual(6, report.Comparisons.Where(c => c.Output == "logits").Single().ArgmaxAgreements);
    }

    [TestMethod]
    public void OneFileServesAnyBatchSize()
    {
        var net = SmallNetwork();
        using var dir = new TempFolder();
        OnnxExporter.Export(net, dir["net.onnx"]);
        foreach (int batch in new[] { 1, 7 })
        {
            var report = OnnxVerifier.Verify(net, dir["net.onnx"], Fixtures.RandomTensor(new Random(batch), [batch, 3, 14, 10]));
            Assert.IsTrue(report.Passed(1e-4), $"batch {batch}\n{report}");
            Assert.AreEqual(batch, report.Results[OnnxVerifier.Cpu][0].ActualShape[0]);
        }
    }

    [TestMethod]
    public void ModelParsesBackWithOpsetIrVersionAndSymbolicBatch()
    {
        var net = SmallNetwork();
        var model = ModelProto.Parser.ParseFrom(OnnxExporter.ExportToBytes(net));
        Assert.AreEqual(9L, model.IrVersion);
        Assert.AreEqual(19L, model.OpsetImport.Single().Version);
        Assert.AreEqual("", model.OpsetImport.Single().Domain);
        Assert.AreEqual("MLConv", model.ProducerName);

        var input = model.Graph.Input.Single();
        Assert.AreEqual("input", input.Name);
        var dims = input.Type.TensorType.Shape.Dim;
        Assert.AreEqual("N", dims[0].DimParam);
        CollectionAssert.AreEqual(new long[] { 3, 14, 10 }, dims.Skip(1).Select(d => d.DimValue).ToArray());
        CollectionAssert.AreEqual(new[] { "logits", "probabilities" }, model.Graph.Output.Select(o => o.Name).ToArray());
        Assert.AreEqual("N", model.Graph.Output[0].Type.TensorType.Shape.Dim[0].DimParam);
        Assert.AreEqual(5L, model.Graph.Output[0].Type.TensorType.Shape.Dim[1].DimValue);

        var names = model.Graph.Node.Select(n => n.Name).ToList();
        Assert.HasCount(names.Count, names.Distinct());
        Assert.IsTrue(model.Graph.Node.All(n => n.DocString.Length > 0));
        Assert.AreEqual("Conv2d(3, 8, kernel_size=3, stride=1, padding=1)", model.Graph.Node[0].DocString);
        var softmax = model.Graph.Node.Single(n => n.OpType == "Softmax");
        Assert.AreEqual(1L, softmax.Attribute.Single(a => a.Name == "axis").I);

        var w = model.Graph.Initializer.Single(t => t.Name == "0.weight");
        CollectionAssert.AreEqual(new long[] { 8, 3, 3, 3 }, w.Dims.ToArray());
        Assert.AreEqual(8 * 3 * 3 * 3 * 4, w.RawData.Length);
        CollectionAssert.AreEqual(((Conv2d)net.Root[0]).Weight.Value.Span.ToArray(), OnnxTensors.ToTensor(w).Span.ToArray());
        var bn = model.Graph.Node.First(n => n.OpType == "BatchNormalization");
        Assert.AreEqual(0.9f, bn.Attribute.Single(a => a.Name == "momentum").F, 1e-7f);
        var avg = model.Graph.Node.Single(n => n.OpType == "AveragePool");
        Assert.AreEqual(1L, avg.Attribute.Single(a => a.Name == "count_include_pad").I);
        Assert.AreEqual(1L, avg.Attribute.Single(a => a.Name == "ceil_mode").I);
        Assert.AreEqual("[\"0\",\"1\",\"2\",\"3\",\"4\"]", model.MetadataProps.Single(p => p.Key == "class_names").Value);
    }

    [TestMethod]
    public void PlainConvNetExportsAtOpset13()
    {
        var root = new Sequential(new Conv2d(2, 4, 3, stride: 2), new BatchNorm2d(4), new ReLU(), new MaxPool2d(2, padding: 1),
            new AvgPool2d(2, countIncludePad: false), new Flatten(), new Linear(4 * 1 * 2, 3, bias: false));
        var net = new Network(Fixtures.Randomize(root), 2, 11, 13);
        using var dir = new TempFolder();
        var export = OnnxExporter.Export(net, dir["net13.onnx"], new OnnxExportOptions { Opset = 13 });
        Assert.AreEqual(13, export.Opset);
        Assert.AreEqual(7L, export.IrVersion);
        var report = OnnxVerifier.Verify(net, dir["net13.onnx"], Fixtures.RandomTensor(new Random(2), [4, 2, 11, 13]));
        Assert.IsTrue(report.Passed(1e-4), report.ToString());
    }

    [TestMethod]
    public void AvgPoolCeilModeWithCountIncludePadIsRefusedBelowOpset19()
    {
        var net = new Network(new Sequential(new Conv2d(1, 2, 3), new AvgPool2d(2, ceilMode: true), new Flatten(), new Linear(2 * 4 * 4, 3)), 1, 9, 9);
        using var dir = new TempFolder();
        var e = Assert.ThrowsExactly<NotSupportedException>(() => OnnxExporter.Export(net, dir["x.onnx"], new OnnxExportOptions { Opset = 13 }));
        StringAssert.Contains(e.Message, "'1'");
        StringAssert.Contains(e.Message, "AvgPool2d(kernel_size=2");
        StringAssert.Contains(e.Message, "opset >= 19");
        Assert.IsFalse(File.Exists(dir["x.onnx"]));
        Assert.IsEmpty(Directory.GetFiles(dir.Path));

        var ceilMax = new Sequential(new MaxPool2d(2, ceilMode: true));
        e = Assert.ThrowsExactly<NotSupportedException>(() => OnnxExporter.ExportToBytes(ceilMax, [1, 5, 5], new OnnxExportOptions { Opset = 9 }));
        StringAssert.Contains(e.Message, "opset >= 10");
    }

    [TestMethod]
    public void OpsetOutsideTheTableIsRejected()
    {
        var conv = new Conv2d(1, 1, 1);
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => OnnxExporter.ExportToBytes(conv, [1, 2, 2], new OnnxExportOptions { Opset = 6 }));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => OnnxExporter.ExportToBytes(conv, [1, 2, 2], new OnnxExportOptions { Opset = 99 }));
        Assert.AreEqual(3L, ModelProto.Parser.ParseFrom(OnnxExporter.ExportToBytes(conv, [1, 2, 2], new OnnxExportOptions { Opset = 7 })).IrVersion);
    }

    /// <summary>A layer the exporter has never heard of.</summary>
    private sealed class Mystery : Layer
    {
        public override Tensor Forward(Tensor x, bool training) => x;
        public override Tensor Backward(Tensor dy) => dy;
        public override int[] OutputShape(int[] inputShape) => inputShape;
        public override JsonObject ToSpec() => new() { ["type"] = "Mystery" };
        public override string ToString() => "Mystery(k=3)";
    }

    [TestMethod]
    public void UnsupportedLayerIsNamedAndNothingIsWritten()
    {
        var net = new Network(new Sequential(new Conv2d(1, 2, 3), new Residual(new Sequential(new ReLU(), new Mystery())), new Flatten(), new Linear(2 * 3 * 3, 2)), 1, 5, 5);
        using var dir = new TempFolder();
        string path = dir["bad.onnx"];
        var e = Assert.ThrowsExactly<NotSupportedException>(() => OnnxExporter.Export(net, path));
        StringAssert.Contains(e.Message, "Mystery(k=3)");
        StringAssert.Contains(e.Message, "'1.body.1'");
        Assert.IsFalse(File.Exists(path));
        Assert.IsEmpty(Directory.GetFiles(dir.Path), "no temporary file may be left behind");
    }

    [TestMethod]
    public void FailedExportLeavesAnExistingFileUntouched()
    {
        using var dir = new TempFolder();
        string path = dir["model.onnx"];
        File.WriteAllText(path, "previous");
        Assert.ThrowsExactly<NotSupportedException>(() => OnnxExporter.Export(new Mystery(), [1, 2, 2], path));
        Assert.AreEqual("previous", File.ReadAllText(path));
        OnnxExporter.Export(new Conv2d(1, 1, 1), [1, 2, 2], path);
        Assert.AreNotEqual("previous", File.ReadAllText(path));
        Assert.HasCount(1, Directory.GetFiles(dir.Path));
    }

    [TestMethod]
    public void BareLayerWithoutRank2Or4OutputIsRejected()
    {
        var e = Assert.ThrowsExactly<ArgumentException>(() => OnnxExporter.ExportToBytes(new Conv2d(3, 2, 3), [2, 5, 5]));
        StringAssert.Contains(e.Message, "3 input channels");
        Assert.ThrowsExactly<ArgumentException>(() => OnnxExporter.ExportToBytes(new ReLU(), [2, 5]));
    }

    [TestMethod]
    public void DropoutOnlyTreeExportsAsIdentity() => Fixtures.AssertMatchesOrt(new Sequential(new Dropout(0.5)), [2, 3, 4]);
}
