using Google.Protobuf;
using Onnx;
using MLConv.Export.Onnx;
using MLConv.Training.Layers;

namespace MLConv.Export.Tests.Onnx;

public sealed partial class LayerRegistryTests
{
    /// <summary>The activations (the tests below also feed inputs past HardSwish's kinks at ±3).</summary>
    private static readonly Dictionary<Type, (Func<Layer> Build, int[] Chw)> ActivationSamples = new()
    {
        [typeof(LeakyReLU)] = (() => new LeakyReLU(0.2), [2, 3, 4]),
        [typeof(PReLU)] = (() => new PReLU(3), [3, 4, 5]),
        [typeof(ELU)] = (() => new ELU(0.8), [2, 3, 4]),
        [typeof(SELU)] = (() => new SELU(), [2, 3, 4]),
        [typeof(Sigmoid)] = (() => new Sigmoid(), [2, 3, 4]),
        [typeof(Tanh)] = (() => new Tanh(), [2, 3, 4]),
        [typeof(Softplus)] = (() => new Softplus(), [2, 3, 4]),
        [typeof(Softsign)] = (() => new Softsign(), [2, 3, 4]),
        [typeof(Abs)] = (() => new Abs(), [2, 3, 4]),
        [typeof(Clip)] = (() => new Clip(-0.3, 0.4), [2, 3, 4]),
        [typeof(HardSigmoid)] = (() => new HardSigmoid(0.7, 0.4), [2, 3, 4]),
        [typeof(HardSwish)] = (() => new HardSwish(), [2, 3, 4]),
        [typeof(SiLU)] = (() => new SiLU(), [2, 3, 4]),
    };

    /// <summary>
    /// Exports at <paramref name="opset"/> and checks the operators written; on inputs in [−5, 5] ONNX Runtime agrees,
    /// and the file imports back into one <typeparamref name="T"/> computing the same.
    /// </summary>
    private static void AssertWrittenAsAndReadBack<T>(Layer layer, int opset, params string[] ops) where T : Layer
    {
        int[] chw = [2, 3, 4];
        var x = Fixtures.RandomTensor(new Random(9), [2, .. chw], scale: 5f);
        var model = OnnxExporter.ToModel(layer, chw, new OnnxExportOptions { Opset = opset });
        CollectionAssert.AreEqual(ops, model.Graph.Node.Select(n => n.OpType).ToArray());
        using var dir = new TempFolder();
        File.WriteAllBytes(dir["model.onnx"], model.ToByteArray());
        var report = OnnxVerifier.Verify(layer, dir["model.onnx"], x);
        Assert.IsTrue(report.Passed(1e-4), report.ToString());
        var imported = OnnxImporter.Import(model).Root;
        Assert.IsInstanceOfType<T>(imported.Layers.Single());
        AssertClose(layer.Forward(x, false).Clone(), imported.Forward(x, false), typeof(T).Name);
    }

    [TestMethod]
    public void HardSwishBelowOpset14IsMulByHardSigmoid()
    {
        AssertWrittenAsAndReadBack<HardSwish>(new HardSwish(), 13, "HardSigmoid", "Mul");
        AssertWrittenAsAndReadBack<HardSwish>(new HardSwish(), 14, "HardSwish");
    }

    [TestMethod]
    public void SiLUIsSigmoidAndMul() => AssertWrittenAsAndReadBack<SiLU>(new SiLU(), 7, "Sigmoid", "Mul");

    [TestMethod]
    [DataRow(10, -0.3, 0.4)]
    [DataRow(11, -0.3, 0.4)]
    [DataRow(7, 0.0, double.PositiveInfinity)]
    [DataRow(19, 0.0, double.PositiveInfinity)]
    [DataRow(19, double.NegativeInfinity, 0.2)]
    public void ClipBoundsAreAttributesBeforeOpset11AndInputsFrom11(int opset, double min, double max)
    {
        var clip = new Clip(min, max);
        AssertWrittenAsAndReadBack<Clip>(clip, opset, "Clip");
        var node = OnnxExporter.ToModel(clip, [2, 3, 4], new OnnxExportOptions { Opset = opset }).Graph.Node.Single();
        int bounds = (double.IsFinite(min) ? 1 : 0) + (double.IsFinite(max) ? 1 : 0);
        Assert.AreEqual(opset < 11 ? bounds : 0, node.Attribute.Count);
        Assert.AreEqual(opset < 11 ? 1 : double.IsFinite(max) ? 3 : 2, node.Input.Count);
        var read = (Clip)OnnxImporter.Import(OnnxExporter.ToModel(clip, [2, 3, 4], new OnnxExportOptions { Opset = opset })).Root.Layers.Single();
        Assert.AreEqual((float)min, (float)read.Min);
        Assert.AreEqual((float)max, (float)read.Max);
    }

    [TestMethod]
    public void PReLUWithOneSlopeReadsBack() => AssertWrittenAsAndReadBack<PReLU>(new PReLU(), 7, "PRelu");

    /// <summary>Mul(σ(x), x), operands swapped, is a SiLU too; Mul of a sigmoid and another activation is no SiLU (refused, or another layer's).</summary>
    [TestMethod]
    public void SiLUPatternIsReadInEitherOrderAndOnlyOnItsOwnInput()
    {
        static ModelProto Model(string mulLeft, string mulRight)
        {
            var g = new GraphProto();
            g.Input.Add(OnnxGraphBuilder.FloatValue("x", "N", null, 2, 3, 3));
            g.Output.Add(OnnxGraphBuilder.FloatValue("y", "N", null, 2, 3, 3));
            g.Node.Add(new NodeProto { Name = "relu", OpType = "Relu", Input = { "x" }, Output = { "r" } });
            g.Node.Add(new NodeProto { Name = "sig", OpType = "Sigmoid", Input = { "r" }, Output = { "s" } });
            g.Node.Add(new NodeProto { Name = "mul", OpType = "Mul", Input = { mulLeft, mulRight }, Output = { "y" } });
            var model = new ModelProto { IrVersion = 8, Graph = g };
            model.OpsetImport.Add(new OperatorSetIdProto { Version = 13 });
            return model;
        }
        CollectionAssert.AreEqual(new[] { "ReLU", "SiLU" }, OnnxImporter.Import(Model("s", "r")).Root.Layers.Select(l => l.TypeName).ToArray());
        try
        {
            Assert.IsFalse(OnnxImporter.Import(Model("s", "x")).Root.Descendants().Any(l => l is SiLU));
        }
        catch (NotSupportedException e)
        {
            StringAssert.Contains(e.Message, "'mul'");
        }
    }
}
