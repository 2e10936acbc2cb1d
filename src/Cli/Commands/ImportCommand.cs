using System.CommandLine;
using System.Text.Json;
using MLConv.Export.Onnx;
using MLConv.Training.Layers;
using MLConv.Training.Models;
using Onnx;

namespace MLConv.Cli.Commands;

/// <summary>
/// <c>mlconv import</c>: an ONNX classifier (input [N, C, H, W] with known C, H, W; output [N, classes]) to an MLConv
/// model file. Class names and normalisation come from MLConv's own export metadata when present, else from
/// <c>--classes</c> (default 0..K−1) and identity normalisation.
/// </summary>
internal static class ImportCommand
{
    public static Command Create(CliContext ctx)
    {
        var onnx = CliOptions.Required("--onnx", "ONNX file to read", "file.onnx");
        var output = CliOptions.Required("--out", "Model file to write (.mlconv)", "file");
        var classes = CliOptions.Optional("--classes", "Comma-separated class names (default: the file's metadata, else 0..K-1)", "a,b,...");
        var globalPool = CliOptions.Flag("--whole-window-pool-as-global", "Read an AveragePool over the whole input map as global pooling (other image sizes then work)");
        var command = new Command("import", "Read an ONNX classifier into an MLConv model file (.mlconv).") { onnx, output, classes, globalPool };
        command.SetAction(r =>
        {
            string path = r.GetValue(onnx)!;
            if (!File.Exists(path)) throw new FileNotFoundException($"No ONNX model at '{path}'.", path);
            ModelProto proto;
            try { proto = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path)); }
            catch (Google.Protobuf.InvalidProtocolBufferException e) { throw new InvalidDataException($"'{path}' is not an ONNX model: {e.Message}", e); }
            var model = OnnxImporter.Import(proto, new OnnxImportOptions { FreeBatch = true, WholeWindowPoolingAsGlobal = r.GetValue(globalPool) });
            if (model.InputShape is not [_, > 0 and var c, > 0 and var h, > 0 and var w])
                throw new InvalidDataException($"'{path}' takes input [{string.Join(", ", model.InputShape)}]; an image input [N, C, H, W] with known C, H and W is needed.");
            var meta = proto.MetadataProps.ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
            string[]? names = r.GetValue(classes) is { } list ? list.Split(',', StringSplitOptions.TrimEntries)
                : meta.TryGetValue("class_names", out var json) ? JsonSerializer.Deserialize<string[]>(json) : null;
            Normalization? norm = null;
            if (meta.GetValueOrDefault(MLConv.Export.OnnxExporter.NormalizationKey) == "not included" && meta.TryGetValue("normalization_mean", out var mean) && meta.TryGetValue("normalization_std", out var std))
                norm = new Normalization(JsonSerializer.Deserialize<float[]>(mean)!, JsonSerializer.Deserialize<float[]>(std)!);
            string arch = meta.GetValueOrDefault("architecture") ?? Path.GetFileNameWithoutExtension(path);
            var net = new Network(Logits(model.Root), c, h, w, names, norm) { Architecture = arch };
            ModelFile.Save(net, r.GetValue(output)!);
            ctx.Line($"Imported {path} (opset {model.Opset}, {model.Root.Descendants().Count()} layers, {net.ParameterCount:N0} parameters): " +
                     $"input [{c}, {h}, {w}], {net.NumClasses} classes; wrote {r.GetValue(output)}");
            return Cli.Ok;
        });
        return command;
    }

    /// <summary>
    /// A network's forward pass gives logits (its probabilities apply the softmax): a classifier read up to its
    /// probabilities (MLConv's own exports, most converted models) loses its final softmax over the classes.
    /// </summary>
    private static Sequential Logits(Sequential root)
    {
        if (root.Count == 1 && root[0] is Graph g && g.Nodes.FirstOrDefault(n => n.Output == g.Output) is { Layer: Softmax { Log: false, Axis: null or 1 or -1 } } last)
            return new Sequential(g.Until(last.Inputs[0]));
        if (root.Count > 1 && root[root.Count - 1] is Softmax { Log: false, Axis: null or 1 or -1 })
            return new Sequential(root.Layers.Take(root.Count - 1));
        return root;
    }
}
