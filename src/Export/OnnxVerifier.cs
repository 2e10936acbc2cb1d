using System.Globalization;
using System.Text;
using Microsoft.ML.OnnxRuntime;
using MLConv.Training.Layers;
using MLConv.Training.Models;
using MLConv.Training.Tensors;

namespace MLConv.Export;

/// <summary>
/// Runs an exported model under ONNX Runtime and compares it with MLConv's own inference forward on
/// the same inputs: the CPU execution provider always, CUDA as well where the installed ONNX Runtime
/// offers it (the CPU-only package does not; that is recorded, never an error).
/// </summary>
public static class OnnxVerifier
{
    /// <summary>ONNX Runtime execution provider names as they appear in <see cref="OnnxVerificationReport.Results"/>: <c>Cpu</c> = "CPUExecutionProvider", <c>Cuda</c> = "CUDAExecutionProvider".</summary>
    public const string Cpu = "CPUExecutionProvider", Cuda = "CUDAExecutionProvider";

    /// <summary>
    /// Compares <paramref name="onnxPath"/> with <c>network.Forward(inputs, training: false)</c> (logits)
    /// and its softmax (probabilities). <paramref name="inputs"/> is [N, C, H, W]. The file's metadata decides how they
    /// are read: a file whose graph applies the network's normalisation (the default export, "input_normalization" =
    /// "included") gets them as raw pixels and MLConv's forward gets them normalised; otherwise both get them as given.
    /// </summary>
    public static OnnxVerificationReport Verify(Network network, string onnxPath, Tensor inputs)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(inputs);
        network.CheckInput(inputs);
        // A file that applies the input normalisation itself takes raw pixels; MLConv's forward takes normalised ones.
        bool rawPixels = File.Exists(onnxPath) && ReadsRawPixels(onnxPath);
        return Verify(x =>
        {
            if (!rawPixels) return [network.Forward(x, false)];
            var normalized = x.Clone();
            network.Normalize(normalized);
            return [network.Forward(normalized, false)];
        }, onnxPath, inputs);
    }

    /// <summary>As <see cref="Verify(Network, string, Tensor)"/> for a bare layer tree exported by
    /// <see cref="OnnxExporter.Export(Layer, int[], string, OnnxExportOptions?)"/>.</summary>
    public static OnnxVerificationReport Verify(Layer root, string onnxPath, Tensor inputs)
    {
        ArgumentNullException.ThrowIfNull(root);
        ArgumentNullException.ThrowIfNull(inputs);
        if (inputs.Rank != 4)
            throw new ArgumentException($"inputs must be [N, C, H, W]; got [{inputs.ShapeString}].", nameof(inputs));
        return Verify(x => OnnxExporter.OutputGraph(root) is { } g ? g.ForwardAll(x, false) : [root.Forward(x, false)], onnxPath, inputs);
    }

    private static bool ReadsRawPixels(string onnxPath)
    {
        try
        {
            var model = global::Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(onnxPath));
            return model.MetadataProps.Any(p => p.Key == OnnxExporter.NormalizationKey && p.Value == "included");
        }
        catch (Google.Protobuf.InvalidProtocolBufferException e)
        {
            throw new InvalidDataException($"'{onnxPath}' is not a valid ONNX model: {e.Message}", e);
        }
    }

    /// <summary><paramref name="forward"/> gives the logits, then the extra outputs of a graph with several (in the file's order after logits and probabilities).</summary>
    private static OnnxVerificationReport Verify(Func<Tensor, IReadOnlyList<Tensor>> forward, string onnxPath, Tensor inputs)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(onnxPath);
        if (!File.Exists(onnxPath)) throw new FileNotFoundException($"No ONNX model at '{onnxPath}'.", onnxPath);
        inputs.ThrowIfNotFinite(nameof(inputs));

        var outputs = forward(inputs).Select(t => t.Clone()).ToList();
        var logits = outputs[0];
        var reference = new Dictionary<string, Tensor>(StringComparer.Ordinal) { [OnnxExporter.LogitsName] = logits };
        if (logits.Rank == 2) reference[OnnxExporter.ProbabilitiesName] = Rows.Softmax(logits);
        if (outputs.Count > 1)
        {
            var names = global::Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(onnxPath)).Graph.Output
                .Select(o => o.Name).Where(n => n is not (OnnxExporter.LogitsName or OnnxExporter.ProbabilitiesName)).ToList();
            if (names.Count != outputs.Count - 1)
                throw new InvalidDataException($"The model at '{onnxPath}' has {names.Count} outputs besides logits and probabilities; the layers give {outputs.Count - 1}.");
            for (int k = 1; k < outputs.Count; k++) reference[names[k - 1]] = outputs[k];
        }

        var results = new Dictionary<string, IReadOnlyList<OutputComparison>>(StringComparer.Ordinal);
        var unavailable = new Dictionary<string, string>(StringComparer.Ordinal);
        var available = OrtEnv.Instance().GetAvailableProviders();

        results[Cpu] = Run(onnxPath, inputs, reference, Cpu, null);
        if (!available.Contains(Cuda))
            unavailable[Cuda] = $"CUDA unavailable: ONNX Runtime offers only {string.Join(", ", available)} (the CPU-only package).";
        else
        {
            try { results[Cuda] = Run(onnxPath, inputs, reference, Cuda, o => o.AppendExecutionProvider_CUDA(0)); }
            catch (Exception e) when (e is EntryPointNotFoundException or OnnxRuntimeException or DllNotFoundException)
            {
                unavailable[Cuda] = $"CUDA unavailable: {e.GetType().Name}: {e.Message}";
            }
        }
        return new OnnxVerificationReport(results, unavailable);
    }

    private static List<OutputComparison> Run(string path, Tensor inputs, Dictionary<string, Tensor> reference, string provider,
        Action<SessionOptions>? configure)
    {
        using var options = new SessionOptions();
        configure?.Invoke(options);
        using var session = new InferenceSession(path, options);
        string inputName = session.InputNames[0];
        using var input = OrtValue.CreateTensorValueFromMemory(inputs.Span.ToArray(), [.. inputs.ShapeArray.Select(d => (long)d)]);
        var names = session.OutputNames.Where(reference.ContainsKey).ToArray();
        if (!names.Contains(OnnxExporter.LogitsName))
            throw new InvalidDataException($"The model at '{path}' has no '{OnnxExporter.LogitsName}' output (outputs: {string.Join(", ", session.OutputNames)}).");
        using var runOptions = new RunOptions();
        using var outputs = session.Run(runOptions, [inputName], [input], names);
        var list = new List<OutputComparison>();
        for (int i = 0; i < names.Length; i++)
        {
            var info = outputs[i].GetTensorTypeAndShape();
            list.Add(Compare(provider, names[i], reference[names[i]], [.. info.Shape.Select(d => (int)d)], outputs[i].GetTensorDataAsSpan<float>()));
        }
        return list;
    }

    /// <summary>
    /// Max absolute error, that error relative to the reference's scale max|ref| (1 when the
    /// reference is all zeros), and per-sample argmax agreement (argmax over everything but the batch axis).
    /// </summary>
    internal static OutputComparison Compare(string provider, string output, Tensor expected, int[] actualShape, ReadOnlySpan<float> actual)
    {
        int n = expected.Shape[0];
        if (!expected.ShapeEquals(actualShape))
            return new OutputComparison(provider, output, expected.ShapeArray, actualShape, double.PositiveInfinity, double.PositiveInfinity, 0, 0, n);
        var e = expected.Span;
        double maxAbs = 0, scale = 0;
        for (int i = 0; i < e.Length; i++)
        {
            double d = Math.Abs((double)actual[i] - e[i]);
            if (!(d <= maxAbs)) maxAbs = double.IsNaN(d) ? double.PositiveInfinity : d;
            scale = Math.Max(scale, Math.Abs(e[i]));
        }
        int agree = 0, row = n == 0 ? 0 : e.Length / n;
        for (int s = 0; s < n; s++)
            if (Rows.ArgMax(e.Slice(s * row, row)) == Rows.ArgMax(actual.Slice(s * row, row))) agree++;
        return new OutputComparison(provider, output, expected.ShapeArray, actualShape, maxAbs, scale > 0 ? maxAbs / scale : maxAbs, scale, agree, n);
    }
}

/// <summary>One output of one provider against MLConv's forward.</summary>
/// <param name="Provider">The execution provider that ran the file (<see cref="OnnxVerifier.Cpu"/> or <see cref="OnnxVerifier.Cuda"/>).</param>
/// <param name="Output">The graph output compared ("logits" or "probabilities").</param>
/// <param name="ExpectedShape">The shape of MLConv's output (the reference).</param>
/// <param name="ActualShape">The shape ONNX Runtime returned.</param>
/// <param name="MaxAbsoluteError">max |actual − reference| over the output (+∞ when some difference is NaN).</param>
/// <param name="MaxRelativeError">MaxAbsoluteError / ReferenceScale: the error relative to the output's scale.</param>
/// <param name="ReferenceScale">max |reference| over the output.</param>
/// <param name="ArgmaxAgreements">Samples whose argmax (over all non-batch axes) agrees.</param>
/// <param name="Samples">The batch size N compared.</param>
public sealed record OutputComparison(
    string Provider, string Output, int[] ExpectedShape, int[] ActualShape,
    double MaxAbsoluteError, double MaxRelativeError, double ReferenceScale, int ArgmaxAgreements, int Samples)
{
    /// <summary>True when <see cref="ActualShape"/> equals <see cref="ExpectedShape"/> element by element.</summary>
    public bool ShapesMatch => ExpectedShape.AsSpan().SequenceEqual(ActualShape);
}

/// <summary>Result of <see cref="OnnxVerifier.Verify(Network, string, Tensor)"/>.</summary>
public sealed class OnnxVerificationReport(
    IReadOnlyDictionary<string, IReadOnlyList<OutputComparison>> results, IReadOnlyDictionary<string, string> unavailable)
{
    /// <summary>Comparisons per execution provider that ran.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<OutputComparison>> Results { get; } = results;

    /// <summary>Providers that ran, CPU first.</summary>
    public IReadOnlyList<string> ProvidersTried => [.. Results.Keys];

    /// <summary>Providers that could not run, with the reason ("CUDA unavailable: ...").</summary>
    public IReadOnlyDictionary<string, string> ProvidersUnavailable { get; } = unavailable;

    /// <summary>Every comparison of every provider that ran, flattened (provider order, then output order).</summary>
    public IEnumerable<OutputComparison> Comparisons => Results.Values.SelectMany(c => c);

    /// <summary>True when some provider ran and every output of every provider matched in shape within <paramref name="tolerance"/> relative error.</summary>
    public bool Passed(double tolerance = 1e-4) =>
        Results.Count > 0 && Comparisons.Any() && Comparisons.All(c => c.ShapesMatch && c.MaxRelativeError <= tolerance);

    /// <summary>A table, one line per comparison (provider, output, shape, max absolute and relative error, scale, argmax agreements), then one line per unavailable provider with its reason.</summary>
    public override string ToString()
    {
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"{"provider",-22} {"output",-14} {"shape",-14} {"max abs err",12} {"max rel err",12} {"scale",10} {"argmax",9}");
        foreach (var c in Comparisons)
        {
            string shape = string.Join("x", c.ActualShape) + (c.ShapesMatch ? "" : $"≠{string.Join("x", c.ExpectedShape)}");
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"{c.Provider,-22} {c.Output,-14} {shape,-14} {c.MaxAbsoluteError,12:E2} {c.MaxRelativeError,12:E2} {c.ReferenceScale,10:G4} {$"{c.ArgmaxAgreements}/{c.Samples}",9}");
        }
        foreach (var (p, why) in ProvidersUnavailable) sb.AppendLine(CultureInfo.InvariantCulture, $"{p}: {why}");
        return sb.ToString().TrimEnd();
    }
}
