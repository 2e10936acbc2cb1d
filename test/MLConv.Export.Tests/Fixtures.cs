global using MLConv.Tests.Data;
using MLConv.Training.Layers;
using MLConv.Training.Tensors;

[assembly: Parallelize(Scope = ExecutionScope.ClassLevel)]

namespace MLConv.Export.Tests;

internal static class Fixtures
{
    /// <summary>Standard normal values (Box–Muller) times <paramref name="scale"/>.</summary>
    public static Tensor RandomTensor(Random rng, int[] shape, float scale = 1f)
    {
        var t = new Tensor(shape);
        Fill(t.Span, rng, scale);
        return t;
    }

    public static void Fill(Span<float> s, Random rng, float scale)
    {
        for (int i = 0; i < s.Length; i++)
            s[i] = scale * (float)(Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));
    }

    /// <summary>
    /// Random weights and biases everywhere (biases are zero after Reset), and non-trivial BatchNorm
    /// state: γ around 1, β, running mean and a running variance in [0.3, 2.3].
    /// </summary>
    public static T Randomize<T>(T root, int seed = 7) where T : Layer
    {
        var rng = new Random(seed);
        foreach (var (path, p) in root.NamedParameters()) Fill(p.Value.Span, rng, 0.5f);
        foreach (var bn in root.Descendants().OfType<BatchNorm2d>())
        {
            for (int c = 0; c < bn.NumFeatures; c++)
            {
                bn.Gamma.Value[c] = 1f + 0.3f * (float)(rng.NextDouble() * 2 - 1);
                bn.RunningMean[c] = (float)(rng.NextDouble() * 2 - 1);
                bn.RunningVar[c] = 0.3f + 2f * (float)rng.NextDouble();
            }
        }
        return root;
    }

    /// <summary>Exports <paramref name="root"/> for (C, H, W) = <paramref name="chw"/>, runs it under ONNX Runtime on a random batch and asserts agreement within 1e-4 of the output's scale.</summary>
    public static OnnxVerificationReport AssertMatchesOrt(Layer root, int[] chw, int batch = 3, OnnxExportOptions? options = null, int seed = 11)
    {
        using var dir = new TempFolder();
        string path = dir["model.onnx"];
        OnnxExporter.Export(Randomize(root, seed), chw, path, options);
        var x = RandomTensor(new Random(seed + 1), [batch, .. chw]);
        var report = OnnxVerifier.Verify(root, path, x);
        Assert.IsTrue(report.Passed(1e-4), $"{root}\n{report}");
        return report;
    }
}
