using Onnx;
using System.Globalization;
using System.Text.Json;
using Google.Protobuf;
using MLConv.Export.Onnx;
using MLConv.Training.Layers;
using MLConv.Training.Models;
using A = MLConv.Export.Onnx.OnnxGraphBuilder;

namespace MLConv.Export;

/// <summary>
/// Writes a network as an ONNX model: input <c>input</c> [N, C, H, W] (N the symbolic dimension "N",
/// values already normalised as for <see cref="Network.Forward"/>), output <c>logits</c> [N, classes]
/// and <c>probabilities</c> = Softmax(logits, axis 1). Weights are initializers (raw little-endian
/// float32) named by parameter path ("0.weight", "3.body.1.running_mean").
/// <para>
/// Layer → node: Conv2d → Conv (pads [top, left, bottom, right]); MaxPool2d → MaxPool; MinPool2d →
/// Neg, MaxPool, Neg; AvgPool2d → AveragePool (count_include_pad always written: ONNX defaults to 0,
/// PyTorch and MLConv to 1); GlobalAvgPool2d → GlobalAveragePool; BatchNorm2d → BatchNormalization
/// with the running statistics (inference form; ONNX momentum = 1 − PyTorch momentum), or folded into
/// the preceding Conv2d (<see cref="OnnxExportOptions.FoldBatchNorm"/>); ReLU → Relu; Residual → its
/// body and shortcut (or the input) joined by Add; Flatten → Flatten(axis 1); Linear → Gemm(transB 1);
/// Dropout → nothing (inference is the identity); Sequential → its layers in order; Softmax → Softmax;
/// LocalResponseNorm → LRN; Reshape → Reshape to [0, shape…] (0 keeps the batch); Transpose → Transpose;
/// Graph → its nodes in topological order, each reading the ONNX values of its inputs, with Concat → Concat
/// and Sum → Sum. A root Graph with several outputs (alone or in one-layer Sequentials) writes its first output as
/// <c>logits</c> and the others after, under the graph's value names.
/// Any other layer is refused with a <see cref="NotSupportedException"/> naming it, before anything is written.
/// </para>
/// <para>
/// The bare-layer overloads export any layer tree for an input shape (C, H, W). A tree ending in
/// [N, features] gets both outputs; one ending in [N, C, H, W] (a single convolution or pooling
/// layer, say) gets only <c>logits</c> — its own output — since a class softmax has no meaning there.
/// </para>
/// </summary>
public static class OnnxExporter
{
    /// <summary>
    /// The names the exporter gives the graph: <c>InputName</c> = "input" (the [N, C, H, W] image batch),
    /// <c>LogitsName</c> = "logits" (the network's output), <c>ProbabilitiesName</c> = "probabilities" (softmax of the
    /// logits over the class axis, written for [N, features] outputs only) and <c>BatchDimension</c> = "N" (the symbolic
    /// batch dimension of the input and outputs).
    /// </summary>
    public const string InputName = "input", LogitsName = "logits", ProbabilitiesName = "probabilities", BatchDimension = "N";

    /// <summary>Writes <paramref name="network"/> to <paramref name="path"/> (atomically: a temporary file in the same folder, then a move).</summary>
    public static OnnxExportReport Export(Network network, string path, OnnxExportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var built = Build(network.Root, [network.Channels, network.Height, network.Width], options, network);
        return Write(built, path);
    }

    /// <summary>Writes the layer tree <paramref name="root"/> for inputs of shape <paramref name="inputShape"/> = (C, H, W).</summary>
    public static OnnxExportReport Export(Layer root, int[] inputShape, string path, OnnxExportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(root);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var built = Build(root, inputShape, options, null);
        return Write(built, path);
    }

    /// <summary>
    /// The ModelProto of <paramref name="network"/>, as <see cref="Export(Network, string, OnnxExportOptions?)"/> writes it. A host that
    /// needs another input layout or other value names adapts this model (ML.NET's face does so in src/Transforms).
    /// </summary>
    public static ModelProto ToModel(Network network, OnnxExportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(network);
        return Build(network.Root, [network.Channels, network.Height, network.Width], options, network).Model;
    }

    /// <summary>The ModelProto of the layer tree <paramref name="root"/> for inputs (C, H, W).</summary>
    public static ModelProto ToModel(Layer root, int[] inputShape, OnnxExportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(root);
        return Build(root, inputShape, options, null).Model;
    }

    /// <summary>The serialized <see cref="ToModel(Network, OnnxExportOptions?)"/>.</summary>
    public static byte[] ExportToBytes(Network network, OnnxExportOptions? options = null) => ToModel(network, options).ToByteArray();

    /// <summary>The serialized <see cref="ToModel(Layer, int[], OnnxExportOptions?)"/>.</summary>
    public static byte[] ExportToBytes(Layer root, int[] inputShape, OnnxExportOptions? options = null) => ToModel(root, inputShape, options).ToByteArray();

    private sealed record Built(ModelProto Model, int Folded, int[] OutputShape);

    private static OnnxExportReport Write(Built built, string path)
    {
        var bytes = built.Model.ToByteArray();
        string full = Path.GetFullPath(path);
        Training.Data.AtomicFile.Write(full, bytes);
        var g = built.Model.Graph;
        return new OnnxExportReport(full, (int)built.Model.OpsetImport[0].Version, built.Model.IrVersion, g.Node.Count,
            g.Initializer.Count, g.Initializer.Sum(t => (long)t.RawData.Length / sizeof(float)), built.Folded, bytes.LongLength,
            [.. g.Output.Select(o => o.Name)], built.OutputShape);
    }

    private static Built Build(Layer root, int[] inputShape, OnnxExportOptions? options, Network? network)
    {
        options ??= new OnnxExportOptions();
        if (options.Opset < OnnxVersions.MinOpset || options.Opset > OnnxVersions.MaxOpset)
            throw new ArgumentOutOfRangeException(nameof(options), options.Opset,
                $"options.Opset must be in [{OnnxVersions.MinOpset}, {OnnxVersions.MaxOpset}] (ONNX Runtime supports opsets from 7; this exporter's IR table ends at 22); got {options.Opset}.");
        ArgumentNullException.ThrowIfNull(inputShape);
        if (inputShape.Length != 3 || inputShape.Any(d => d < 1))
            throw new ArgumentException($"inputShape must be (C, H, W) with every dimension >= 1; got ({string.Join(", ", inputShape)}).", nameof(inputShape));

        // Refuse what cannot be written before anything is built or written.
        foreach (var (path, layer) in WithPaths(root, ""))
            CheckSupported(layer, path, options.Opset);

        int[] outShape = root.OutputShape([1, .. inputShape]);
        bool classifier = outShape.Length == 2;
        if (!classifier && (network is not null || outShape.Length != 4))
            throw new ArgumentException(
                $"The exported tree must end in [N, classes]{(network is null ? " or [N, C, H, W]" : "")}; it gives [{string.Join(", ", outShape)}] for input [1, {string.Join(", ", inputShape)}].",
                nameof(root));

        var context = new OnnxExportContext(options);
        var b = context.Builder;
        b.ReserveValue(InputName);
        b.ReserveValue(LogitsName);
        b.ReserveValue(ProbabilitiesName);
        string x = InputName;
        int c = inputShape[0], h = inputShape[1], w = inputShape[2];
        bool normalized = false;
        if (options.IncludeNormalization && network is not null && !IsIdentity(network.Normalization))
        {
            var norm = network.Normalization;
            string mean = b.Initializer("normalization_mean", norm.Mean, 1, c, 1, 1);
            string inv = b.Initializer("normalization_inv_std", [.. norm.Std.Select(s => 1f / s)], 1, c, 1, 1);
            x = b.Node("Sub", "", "input normalisation: x - mean[c]", [x, mean]);
            x = b.Node("Mul", "", "input normalisation: (x - mean[c]) / std[c]", [x, inv]);
            normalized = true;
        }
        context.SetShape(x, [1, c, h, w]);
        var finals = context.EmitAll(root, "", x).ToArray();
        string final = finals[0];
        if (final == InputName)
            final = b.Node("Identity", "", "the network is the identity at inference", [InputName]);
        b.RenameValue(final, LogitsName);
        // A graph with several outputs: the others follow under the graph's names, each its own value.
        var extra = OutputGraph(root) is { } outputGraph ? outputGraph.Outputs : [];
        var extraShapes = extra.Count > 1 ? OutputGraph(root)!.OutputShapes([1, .. inputShape]) : [];
        var extraNames = new List<string>();
        for (int k = 1; k < extra.Count; k++)
        {
            string v = finals[k] == finals[0] ? LogitsName : finals[k];
            if (v == InputName || v == LogitsName || finals[1..k].Contains(finals[k]))
                v = b.Node("Identity", "", $"graph output '{extra[k]}'", [v]);
            string name = b.ReserveUnique(extra[k].Replace('.', '_'));
            b.RenameValue(v, name);
            extraNames.Add(name);
        }

        var g = b.Graph;
        g.Name = network?.Architecture ?? root.TypeName;
        g.Input.Add(A.FloatValue(InputName, BatchDimension, null, c, h, w));
        long?[] logitsDims = [null, .. outShape.Skip(1).Select(d => (long?)d)];
        g.Output.Add(A.FloatValue(LogitsName, BatchDimension, logitsDims));
        if (classifier)
        {
            string p = b.Node("Softmax", "", "class probabilities: softmax of the logits over axis 1", [LogitsName], A.Int("axis", 1));
            b.RenameValue(p, ProbabilitiesName);
            g.Output.Add(A.FloatValue(ProbabilitiesName, BatchDimension, logitsDims));
        }
        for (int k = 0; k < extraNames.Count; k++)
            g.Output.Add(A.FloatValue(extraNames[k], BatchDimension, [null, .. extraShapes[k + 1].Skip(1).Select(d => (long?)d)]));

        var model = new ModelProto
        {
            IrVersion = OnnxVersions.IrVersionFor(options.Opset),
            ProducerName = options.ProducerName ?? "",
            ProducerVersion = typeof(OnnxExporter).Assembly.GetName().Version?.ToString() ?? "",
            DocString = options.DocString ?? Describe(root, inputShape, outShape, network),
            Graph = g,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = options.Opset });
        if (network is not null)
        {
            AddMetadata(model, "architecture", network.Architecture);
            AddMetadata(model, "class_names", JsonSerializer.Serialize(network.ClassNames));
            AddMetadata(model, "normalization_mean", JsonSerializer.Serialize(network.Normalization.Mean));
            AddMetadata(model, "normalization_std", JsonSerializer.Serialize(network.Normalization.Std));
            AddMetadata(model, NormalizationKey, normalized ? "included" : IsIdentity(network.Normalization) ? "identity" : "not included");
        }
        return new Built(model, context.Folded, outShape);
    }

    /// <summary>
    /// The <see cref="Graph"/> with several outputs that <paramref name="root"/> is (or holds as its only layer, through
    /// one-layer Sequentials): its outputs after the first are exported too. Null for every other tree.
    /// </summary>
    internal static Graph? OutputGraph(Layer root)
    {
        while (root is Sequential { Count: 1 } s) root = s[0];
        return root is Graph { Outputs.Count: > 1 } g ? g : null;
    }

    /// <summary>Metadata key telling whether the graph applies the input normalisation itself.</summary>
    public const string NormalizationKey = "input_normalization";

    private static bool IsIdentity(Normalization n) => n.Mean.All(v => v == 0f) && n.Std.All(v => v == 1f);

    private static void AddMetadata(ModelProto model, string key, string value) =>
        model.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });

    private static string Describe(Layer root, int[] inputShape, int[] outShape, Network? network) =>
        $"MLConv {(network?.Architecture ?? root.ToString())}: input [N, {string.Join(", ", inputShape)}] -> logits [N, {string.Join(", ", outShape.Skip(1))}]";

    internal static IEnumerable<(string Path, Layer Layer)> WithPaths(Layer layer, string path)
    {
        yield return (path, layer);
        foreach (var (name, child) in layer.Children)
            foreach (var item in WithPaths(child, OnnxExportContext.Join(path, name))) yield return item;
    }


    /// <summary>Throws when the layer has no ONNX mapping, or needs a newer opset than requested.</summary>
    private static void CheckSupported(Layer layer, string path, int opset)
    {
        string where = OnnxExportContext.Describe(path);
        var mapping = OnnxLayerMappings.For(layer.GetType()) ?? throw new NotSupportedException(
            $"Layer {where} {layer} (type {layer.GetType().FullName}) has no ONNX mapping. Exportable layers: " +
            string.Join(", ", OnnxLayerMappings.LayerTypes.Select(t => t.Name).Order(StringComparer.Ordinal)) + ".");
        var (need, why) = mapping.RequiredOpset(layer, where);
        if (opset < need)
            throw new NotSupportedException($"Layer {where} {layer} needs opset >= {need} for {why}; the export asked for opset {opset}.");
    }
}
