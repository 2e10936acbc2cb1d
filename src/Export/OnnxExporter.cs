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
/// and Sum → Sum.
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

        var emitter = new Emitter(options);
        var b = emitter.Builder;
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
        string final = emitter.Emit(root, "", x);
        if (final == InputName)
            final = b.Node("Identity", "", "the network is the identity at inference", [InputName]);
        b.RenameValue(final, LogitsName);

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
        return new Built(model, emitter.Folded, outShape);
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
            foreach (var item in WithPaths(child, Join(path, name))) yield return item;
    }

    private static string Join(string path, string name) => path.Length == 0 ? name : path + "." + name;

    private static string Describe(string path) => path.Length == 0 ? "(root)" : $"'{path}'";

    /// <summary>Throws when the layer has no ONNX mapping, or needs a newer opset than requested.</summary>
    private static void CheckSupported(Layer layer, string path, int opset)
    {
        (int need, string why) = layer switch
        {
            AvgPool2d p when p.CeilMode && p.CountIncludePad =>
                (19, "ceil_mode with count_include_pad (the divisor of a window running past the padding is pinned down from AveragePool-19)"),
            Pool2dLayer p when p.CeilMode => (10, "ceil_mode (MaxPool/AveragePool-10)"),
            Pool2dLayer p when p.Dilation != (Size2)1 => (10, "pooling dilations (MaxPool-10)"),
            LocalResponseNorm l when l.Size % 2 == 0 => throw new NotSupportedException(
                $"Layer {Describe(path)} {l}: ONNX allows an even LRN size but ONNX Runtime's LRN kernel accepts only odd sizes, so the file could not be verified; use an odd size."),
            Conv2d or MaxPool2d or MinPool2d or AvgPool2d or GlobalAvgPool2d or BatchNorm2d or ReLU or Flatten or Linear
                or Dropout or Sequential or Residual or Softmax or LocalResponseNorm or Reshape or Transpose or Graph or Concat or Sum
                => (OnnxVersions.MinOpset, ""),
            _ => throw new NotSupportedException(
                $"Layer {Describe(path)} {layer} (type {layer.GetType().FullName}) has no ONNX mapping. Exportable layers: Conv2d, MaxPool2d, " +
                "MinPool2d, AvgPool2d, GlobalAvgPool2d, BatchNorm2d, ReLU, Flatten, Linear, Dropout, Softmax, LocalResponseNorm, Reshape, " +
                "Transpose, Sequential, Residual, Graph (with Concat and Sum)."),
        };
        if (opset < need)
            throw new NotSupportedException($"Layer {Describe(path)} {layer} needs opset >= {need} for {why}; the export asked for opset {opset}.");
    }

    /// <summary>Maps layers to nodes; each method takes the input value's name and returns the output's.</summary>
    private sealed class Emitter(OnnxExportOptions options)
    {
        public A Builder { get; } = new();
        public int Folded { get; private set; }

        public string Emit(Layer layer, string path, string x) => layer switch
        {
            Sequential s => EmitSequential(s, path, x),
            Residual r => Builder.Node("Add", path, r.ToString(),
                [Emit(r.Body, Join(path, "body"), x), r.Shortcut is null ? x : Emit(r.Shortcut, Join(path, "shortcut"), x)]),
            Conv2d c => EmitConv(c, null, path, x),
            BatchNorm2d bn => EmitBatchNorm(bn, path, x),
            MinPool2d p => Builder.Node("Neg", path, $"{p}: min = -max(-x)",
                [EmitPool("MaxPool", p, path, Builder.Node("Neg", path, $"{p}: min = -max(-x)", [x]))]),
            Pool2dLayer p => EmitPool(p.Mode == Training.Kernels.PoolMode.Average ? "AveragePool" : "MaxPool", p, path, x),
            GlobalAvgPool2d g => Builder.Node("GlobalAveragePool", path, g.ToString(), [x]),
            ReLU r => Builder.Node("Relu", path, r.ToString(), [x]),
            Flatten f => Builder.Node("Flatten", path, f.ToString(), [x], A.Int("axis", 1)),
            Linear l => EmitLinear(l, path, x),
            Dropout => x,
            Softmax s => Builder.Node(s.Log ? "LogSoftmax" : "Softmax", path, s.ToString(), [x], A.Int("axis", 1)),
            LocalResponseNorm l => Builder.Node("LRN", path, l.ToString(), [x],
                A.Float("alpha", (float)l.Alpha), A.Float("beta", (float)l.Beta), A.Float("bias", (float)l.K), A.Int("size", l.Size)),
            Reshape r => Builder.Node("Reshape", path, r.ToString(),
                [x, Builder.Int64Initializer(Join(path, "shape"), [0, .. r.Shape.Select(d => (long)d)], r.Shape.Count + 1)]),
            Transpose t => Builder.Node("Transpose", path, t.ToString(), [x], A.Ints("perm", [.. t.Perm.Select(p => (long)p)])),
            Graph g => EmitGraph(g, path, x),
            _ => throw new NotSupportedException($"Layer {Describe(path)} {layer} has no ONNX mapping."),
        };

        /// <summary>The nodes in topological order; each graph value maps to the ONNX value that holds it.</summary>
        private string EmitGraph(Graph g, string path, string x)
        {
            var values = new Dictionary<string, string>(StringComparer.Ordinal) { [g.Input] = x };
            foreach (var node in g.Nodes)
            {
                string nodePath = Join(path, node.Name);
                var inputs = node.Inputs.Select(v => values[v]).ToList();
                values[node.Output] = node.Layer switch
                {
                    Concat c => Builder.Node("Concat", nodePath, c.ToString(), inputs, A.Int("axis", c.Axis)),
                    Sum when inputs.Count == 1 => inputs[0],
                    Sum s => Builder.Node("Sum", nodePath, s.ToString(), inputs),
                    MultiInputLayer m => throw new NotSupportedException($"Layer {Describe(nodePath)} {m} has no ONNX mapping."),
                    var single => Emit(single, nodePath, inputs[0]),
                };
            }
            return values[g.Output];
        }

        private string EmitSequential(Sequential s, string path, string x)
        {
            for (int i = 0; i < s.Count; i++)
            {
                string childPath = Join(path, i.ToString(CultureInfo.InvariantCulture));
                if (options.FoldBatchNorm && s[i] is Conv2d conv && i + 1 < s.Count && s[i + 1] is BatchNorm2d bn)
                {
                    x = EmitConv(conv, bn, childPath, x);
                    Folded++;
                    i++;
                }
                else x = Emit(s[i], childPath, x);
            }
            return x;
        }

        private string EmitConv(Conv2d c, BatchNorm2d? bn, string path, string x)
        {
            var w = c.Weight.Value.Span.ToArray();
            float[]? bias = c.Bias?.Value.Span.ToArray();
            if (bn is not null)
            {
                // W' = W·s, b' = (b − μ)·s + β with s = γ/√(σ² + ε), per output channel, in double.
                int per = w.Length / c.OutChannels;
                bias ??= new float[c.OutChannels];
                for (int o = 0; o < c.OutChannels; o++)
                {
                    double s = bn.Gamma.Value[o] / Math.Sqrt(bn.RunningVar[o] + bn.Eps);
                    for (int k = 0; k < per; k++) w[o * per + k] = (float)(w[o * per + k] * s);
                    bias[o] = (float)((bias[o] - (double)bn.RunningMean[o]) * s + bn.Beta.Value[o]);
                }
            }
            var g = c.Geometry;
            string wName = Builder.Initializer(Join(path, "weight"), w, c.OutChannels, c.InChannels / c.Groups, g.KernelH, g.KernelW);
            List<string> inputs = [x, wName];
            if (bias is not null) inputs.Add(Builder.Initializer(Join(path, "bias"), bias, c.OutChannels));
            return Builder.Node("Conv", path, bn is null ? c.ToString() : $"{c} with {bn} folded in", inputs,
                A.Ints("kernel_shape", g.KernelH, g.KernelW),
                A.Ints("strides", g.StrideH, g.StrideW),
                A.Ints("pads", g.PadTop, g.PadLeft, g.PadBottom, g.PadRight),
                A.Ints("dilations", g.DilationH, g.DilationW),
                A.Int("group", c.Groups));
        }

        private string EmitBatchNorm(BatchNorm2d bn, string path, string x)
        {
            int c = bn.NumFeatures;
            string scale = Builder.Initializer(Join(path, "weight"), bn.Gamma.Value.Span, c);
            string beta = Builder.Initializer(Join(path, "bias"), bn.Beta.Value.Span, c);
            string mean = Builder.Initializer(Join(path, "running_mean"), bn.RunningMean.Span, c);
            string var = Builder.Initializer(Join(path, "running_var"), bn.RunningVar.Span, c);
            return Builder.Node("BatchNormalization", path, bn.ToString(), [x, scale, beta, mean, var],
                A.Float("epsilon", (float)bn.Eps),
                A.Float("momentum", (float)(1 - bn.Momentum)));
        }

        private string EmitPool(string op, Pool2dLayer p, string path, string x)
        {
            var g = p.Geometry;
            List<AttributeProto> attrs =
            [
                A.Ints("kernel_shape", g.KernelH, g.KernelW),
                A.Ints("strides", g.StrideH, g.StrideW),
                A.Ints("pads", g.PadTop, g.PadLeft, g.PadBottom, g.PadRight),
            ];
            // ceil_mode and MaxPool's dilations arrived in opset 10; CheckSupported refused non-defaults below it.
            if (options.Opset >= 10)
            {
                attrs.Add(A.Int("ceil_mode", p.CeilMode ? 1 : 0));
                if (op == "MaxPool") attrs.Add(A.Ints("dilations", g.DilationH, g.DilationW));
            }
            if (op == "AveragePool") attrs.Add(A.Int("count_include_pad", p.CountIncludePad ? 1 : 0));
            return Builder.Node(op, path, p.ToString(), [x], [.. attrs]);
        }

        private string EmitLinear(Linear l, string path, string x)
        {
            string w = Builder.Initializer(Join(path, "weight"), l.Weight.Value.Span, l.OutFeatures, l.InFeatures);
            List<string> inputs = [x, w];
            if (l.Bias is not null) inputs.Add(Builder.Initializer(Join(path, "bias"), l.Bias.Value.Span, l.OutFeatures));
            // Gemm's C became optional in opset 11.
            else if (options.Opset < 11) inputs.Add(Builder.Initializer(Join(path, "bias"), new float[l.OutFeatures], l.OutFeatures));
            return Builder.Node("Gemm", path, l.ToString(), inputs, A.Int("transB", 1));
        }
    }
}
