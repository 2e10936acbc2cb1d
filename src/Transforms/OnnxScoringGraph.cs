using MLConv.Export;
using MLConv.Training.Models;
using Onnx;

namespace MLConv.Transforms;

/// <summary>
/// The graph <c>ApplyOnnxModel</c> runs, derived from MLConv's standard export
/// (<see cref="OnnxExporter.ToModel(Network, OnnxExportOptions?)"/>)
/// by one adaptation and nothing else:
/// <list type="number">
/// <item>the graph input becomes the flat pixel vector [N, C·H·W] that <c>ExtractPixels</c> writes, named after the
/// features column (ApplyOnnxModel binds columns to graph values by name), and a Reshape to [N, C, H, W] feeds it to
/// the export's own input value;</item>
/// <item>the <c>probabilities</c> output is renamed to the scoring chain's internal column.</item>
/// </list>
/// Every other node, initializer and the metadata are the export's, unchanged. A name the adaptation needs that the
/// export already uses (a features column called "logits", say) moves the export's value aside to a fresh name first.
/// <para>
/// Why derived rather than one file for both: <c>ExportOnnx</c> writes the standard [N, C, H, W] graph that any ONNX
/// host (and ApplyOnnxModel with a shape dictionary) reads as documented; the flat input and the column names are
/// ML.NET's choices. Deriving the scoring graph from exactly that model keeps one exporter path: the network part
/// ML.NET scores is, node for node, the file a user gets.
/// </para>
/// </summary>
internal static class OnnxScoringGraph
{
    /// <summary>
    /// A copy of <paramref name="export"/> that takes <paramref name="inputName"/> [N, C·H·W] and outputs
    /// <paramref name="probabilitiesName"/>. <paramref name="export"/> is left as it is.
    /// </summary>
    public static ModelProto FromExport(ModelProto export, string inputName, string probabilitiesName)
    {
        if (inputName == probabilitiesName)
            throw new ArgumentException($"The input and the probabilities need two names; both are '{inputName}'.", nameof(probabilitiesName));
        var model = export.Clone();
        var g = model.Graph;
        if (g.Input.Count != 1 || g.Input[0].Type?.TensorType?.Shape is not { Dim.Count: 4 } shape || shape.Dim.Skip(1).Any(d => d.DimValue < 1))
            throw new ArgumentException("The export must have one input [N, C, H, W] with known C, H and W.", nameof(export));
        if (!g.Output.Any(o => o.Name == OnnxExporter.ProbabilitiesName))
            throw new ArgumentException($"The export has no '{OnnxExporter.ProbabilitiesName}' output.", nameof(export));
        long c = shape.Dim[1].DimValue, h = shape.Dim[2].DimValue, w = shape.Dim[3].DimValue;

        if (probabilitiesName != OnnxExporter.ProbabilitiesName)
        {
            Claim(g, probabilitiesName);
            Rename(g, OnnxExporter.ProbabilitiesName, probabilitiesName);
        }
        Claim(g, inputName);   // may move the export's own input aside when the column shares its name
        var imageInput = g.Input[0];
        var flat = imageInput.Clone();
        flat.Name = inputName;
        var dims = flat.Type.TensorType.Shape.Dim;
        dims.RemoveAt(3);
        dims.RemoveAt(2);
        dims[1].DimValue = c * h * w;
        g.Input[0] = flat;
        string target = Fresh(g, "input_shape");
        var targetShape = new TensorProto { Name = target, DataType = (int)TensorProto.Types.DataType.Int64 };
        targetShape.Dims.Add(4);
        targetShape.Int64Data.Add([-1, c, h, w]);
        g.Initializer.Add(targetShape);
        g.Node.Insert(0, new NodeProto
        {
            Name = FreshNode(g, "/Reshape"), OpType = "Reshape", DocString = "flat pixel vector [N, C·H·W] -> [N, C, H, W]",
            Input = { inputName, target }, Output = { imageInput.Name },
        });
        return model;
    }

    /// <summary>
    /// The inverse of <see cref="FromExport"/> as far as the network goes: from a scoring graph (as ML.NET keeps it in a
    /// saved model) the graph of the network alone — the [N, C, H, W] input back in place of the flat vector and its
    /// Reshape, the input normalisation (<see cref="OnnxExporter.NormalizationKey"/> "included") taken out, the logits
    /// the only output — with the image shape, class names, normalisation and architecture the export recorded.
    /// Null when <paramref name="scoring"/> is not a graph <see cref="FromExport"/> made.
    /// </summary>
    public static (ModelProto Graph, int Channels, int Height, int Width, string[] ClassNames, Normalization Normalization, string Architecture)? ToNetworkGraph(ModelProto scoring)
    {
        var meta = scoring.MetadataProps.ToDictionary(p => p.Key, p => p.Value);
        if (scoring.Graph is not { Input.Count: 1 } sg || sg.Node.Count == 0 || !meta.TryGetValue("class_names", out var namesJson)
            || !meta.TryGetValue("normalization_mean", out var meanJson) || !meta.TryGetValue("normalization_std", out var stdJson))
            return null;
        var model = scoring.Clone();
        var g = model.Graph;
        string flatName = g.Input[0].Name;
        var reshape = g.Node[0];
        if (reshape.OpType != "Reshape" || reshape.Input.Count != 2 || reshape.Input[0] != flatName
            || g.Initializer.FirstOrDefault(t => t.Name == reshape.Input[1]) is not { Int64Data.Count: 4 } target)
            return null;
        int c = checked((int)target.Int64Data[1]), h = checked((int)target.Int64Data[2]), w = checked((int)target.Int64Data[3]);
        string image = reshape.Output[0];
        g.Node.RemoveAt(0);
        g.Initializer.Remove(target);
        var input = g.Input[0].Clone();
        input.Name = image;
        var dims = input.Type.TensorType.Shape.Dim;
        dims[1].DimValue = c;
        dims.Add(new TensorShapeProto.Types.Dimension { DimValue = h });
        dims.Add(new TensorShapeProto.Types.Dimension { DimValue = w });
        g.Input[0] = input;

        var mean = System.Text.Json.JsonSerializer.Deserialize<float[]>(meanJson)!;
        var std = System.Text.Json.JsonSerializer.Deserialize<float[]>(stdJson)!;
        if (meta.GetValueOrDefault(OnnxExporter.NormalizationKey) == "included")
        {
            // Sub(input, mean) then Mul(·, 1/std), as the exporter writes them: the network starts after the Mul.
            var sub = g.Node.FirstOrDefault(n => n.OpType == "Sub" && n.Input.Count == 2 && n.Input[0] == image);
            var mul = sub is null ? null : g.Node.FirstOrDefault(n => n.OpType == "Mul" && n.Input.Count == 2 && n.Input[0] == sub.Output[0]);
            if (sub is null || mul is null) return null;
            string normalized = mul.Output[0];
            g.Node.Remove(sub);
            g.Node.Remove(mul);
            foreach (var node in g.Node)
                for (int i = 0; i < node.Input.Count; i++) if (node.Input[i] == normalized) node.Input[i] = image;
            foreach (var o in g.Output) if (o.Name == normalized) o.Name = image;
        }
        foreach (var o in g.Output.Where(o => o.Name != OnnxExporter.LogitsName).ToList()) g.Output.Remove(o);
        if (g.Output.Count != 1) return null;
        return (model, c, h, w, System.Text.Json.JsonSerializer.Deserialize<string[]>(namesJson)!, new Normalization(mean, std),
            meta.GetValueOrDefault("architecture", "custom"));
    }

    /// <summary>Frees <paramref name="name"/> for a new value: a value of the graph that has it is renamed to a fresh name.</summary>
    private static void Claim(GraphProto g, string name)
    {
        if (ValueNames(g).Contains(name)) Rename(g, name, Fresh(g, name));
    }

    private static void Rename(GraphProto g, string from, string to)
    {
        foreach (var node in g.Node)
        {
            for (int i = 0; i < node.Input.Count; i++) if (node.Input[i] == from) node.Input[i] = to;
            for (int i = 0; i < node.Output.Count; i++) if (node.Output[i] == from) node.Output[i] = to;
        }
        foreach (var v in g.Input.Concat(g.Output).Concat(g.ValueInfo)) if (v.Name == from) v.Name = to;
        foreach (var t in g.Initializer) if (t.Name == from) t.Name = to;
    }

    private static HashSet<string> ValueNames(GraphProto g) =>
    [
        .. g.Input.Select(v => v.Name), .. g.Output.Select(v => v.Name), .. g.ValueInfo.Select(v => v.Name),
        .. g.Initializer.Select(t => t.Name), .. g.Node.SelectMany(n => n.Input.Concat(n.Output)),
    ];

    /// <summary><paramref name="name"/>, or the first of name_1, name_2, ... that the graph does not use.</summary>
    private static string Fresh(GraphProto g, string name) => FirstUnused(ValueNames(g), name);

    private static string FreshNode(GraphProto g, string name) => FirstUnused([.. g.Node.Select(n => n.Name)], name);

    private static string FirstUnused(HashSet<string> used, string name)
    {
        if (!used.Contains(name)) return name;
        for (int k = 1; ; k++)
            if (!used.Contains($"{name}_{k}")) return $"{name}_{k}";
    }
}
