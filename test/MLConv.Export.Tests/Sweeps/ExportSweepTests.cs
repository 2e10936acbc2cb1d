using CsCheck;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using MLConv.Export.Onnx;
using MLConv.Tests.Sweeps;
using MLConv.Training.Layers;

namespace MLConv.Export.Tests.Sweeps;

/// <summary>
/// Property sweeps over random layer configurations of every layer type (<see cref="RandomLayers"/>): the export runs
/// under ONNX Runtime and matches MLConv within 1e-4 of the output's scale; the output shape the file declares equals
/// MLConv's, ONNX Runtime's actual output and ONNX Runtime's own shape inference (so ORT never logs "Error merging shape
/// info"); and the importer reads the export back into layers computing the same. A failure is shrunk by CsCheck to a
/// minimal configuration, printed as the C# that builds it. MLCONV_SWEEP_ITERATIONS sets the iterations (long run).
/// </summary>
[TestClass]
public sealed class ExportSweepTests
{
    private static readonly SessionOptions Quiet = new() { LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR };

    /// <summary>The checks for one case; throws with the reason.</summary>
    internal static void Check(LayerCase c)
    {
        var layer = Fixtures.Randomize(c.Build(), seed: c.Text.Length);
        var x = Fixtures.RandomTensor(new Random(c.Chw.Sum()), [c.Batch, .. c.Chw]);
        int[] expectedShape = layer.OutputShape([c.Batch, .. c.Chw]);
        var expected = layer.Forward(x, training: false).Clone();
        var model = OnnxExporter.ToModel(layer, c.Chw);

        // Declared = MLConv's shape (batch symbolic).
        var declared = model.Graph.Output[0].Type.TensorType.Shape.Dim;
        CollectionAssert.AreEqual(expectedShape[1..], declared.Skip(1).Select(d => (int)d.DimValue).ToArray(), $"declared shape of {c}");

        // ONNX Runtime's own inference, from a copy whose outputs declare no shape: must agree with the declaration.
        var undeclared = model.Clone();
        foreach (var o in undeclared.Graph.Output) o.Type.TensorType.Shape = null;
        using (var inferring = new InferenceSession(undeclared.ToByteArray(), Quiet))
        {
            var inferred = inferring.OutputMetadata[undeclared.Graph.Output[0].Name].Dimensions;
            CollectionAssert.AreEqual(expectedShape[1..], inferred.Skip(1).ToArray(), $"ONNX Runtime's inferred shape of {c}");
        }

        // ONNX Runtime's output: the declared shape and MLConv's values.
        using var session = new InferenceSession(model.ToByteArray(), Quiet);
        var input = new DenseTensor<float>(x.Span.ToArray(), [c.Batch, .. c.Chw]);
        using var results = session.Run([NamedOnnxValue.CreateFromTensor(OnnxExporter.InputName, input)]);
        var logits = results.First(r => r.Name == OnnxExporter.LogitsName).AsTensor<float>();
        CollectionAssert.AreEqual(expectedShape, logits.Dimensions.ToArray(), $"ONNX Runtime's output shape of {c}");
        AssertClose(expected, [.. logits], $"ONNX Runtime on {c}");

        // Import of the export computes the same.
        var imported = OnnxImporter.Import(model);
        var back = imported.Root.Forward(x, training: false);
        var reference = imported.OutputName == OnnxExporter.ProbabilitiesName ? new Softmax().Forward(expected, training: false) : expected;
        CollectionAssert.AreEqual(reference.ShapeArray, back.ShapeArray, $"imported shape of {c}");
        AssertClose(reference, back.Span.ToArray(), $"import of {c}");
    }

    private static void AssertClose(MLConv.Training.Tensors.Tensor expected, float[] actual, string what)
    {
        float scale = 0, err = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            scale = Math.Max(scale, Math.Abs(expected[i]));
            err = Math.Max(err, Math.Abs(expected[i] - actual[i]));
        }
        if (!(err <= 1e-4f * Math.Max(scale, 1e-6f))) throw new AssertFailedException($"{what}: max |Δ| {err} at scale {scale}");
    }

    private static void Sweep(Gen<LayerCase> gen, long ciIterations) =>
        gen.Sample(Check, iter: RandomLayers.Iterations(ciIterations), threads: 1, print: c => c.ToString());

    [TestMethod] public void Conv2dExportsMatchOnnxRuntime() => Sweep(RandomLayers.Conv2d, 40);
    [TestMethod] public void ConvTranspose2dExportsMatchOnnxRuntime() => Sweep(RandomLayers.ConvTranspose2d, 30);
    [TestMethod] public void PoolingExportsMatchOnnxRuntimeIncludingItsShapeInference() => Sweep(RandomLayers.Pool, 60);
    [TestMethod] public void ActivationExportsMatchOnnxRuntime() => Sweep(RandomLayers.Activation, 40);
    [TestMethod] public void StructuralExportsMatchOnnxRuntime() => Sweep(RandomLayers.Structural, 40);
    [TestMethod] public void CompositeExportsMatchOnnxRuntime() => Sweep(RandomLayers.Composite, 25);
}
