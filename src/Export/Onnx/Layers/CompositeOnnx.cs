using MLConv.Training.Layers;

namespace MLConv.Export.Onnx.Layers;

/// <summary>Sequential → its layers in order; with <see cref="OnnxExportOptions.FoldBatchNorm"/> a Conv2d followed by a BatchNorm2d becomes one Conv.</summary>
internal sealed class SequentialOnnx : OnnxLayerMapping<Sequential>
{
    protected override string Export(Sequential s, OnnxExportContext context, string path, IReadOnlyList<string> inputs)
    {
        string x = inputs[0];
        for (int i = 0; i < s.Count; i++)
        {
            string childPath = OnnxExportContext.Join(path, i);
            if (context.Options.FoldBatchNorm && s[i] is Conv2d conv && i + 1 < s.Count && s[i + 1] is BatchNorm2d bn)
            {
                x = Conv2dOnnx.Export(conv, bn, context, childPath, x);
                context.Folded++;
                i++;
            }
            else x = context.Emit(s[i], childPath, x);
        }
        return x;
    }

    /// <summary>A Sequential of one layer gives what that layer gives (an imported model is a Sequential holding one Graph).</summary>
    protected override IReadOnlyList<string> ExportAll(Sequential s, OnnxExportContext context, string path, IReadOnlyList<string> inputs) =>
        s.Count == 1 ? context.EmitAll(s[0], OnnxExportContext.Join(path, 0), inputs) : [Export(s, context, path, inputs)];
}

/// <summary>Residual → its body and its shortcut (or the input) joined by Add.</summary>
internal sealed class ResidualOnnx : OnnxLayerMapping<Residual>
{
    protected override string Export(Residual r, OnnxExportContext context, string path, IReadOnlyList<string> inputs)
    {
        string x = inputs[0];
        string body = context.Emit(r.Body, OnnxExportContext.Join(path, "body"), x);
        string shortcut = r.Shortcut is null ? x : context.Emit(r.Shortcut, OnnxExportContext.Join(path, "shortcut"), x);
        return context.Builder.Node("Add", path, r.ToString(), [body, shortcut]);
    }
}

/// <summary>Graph → its nodes in topological order, each reading the ONNX values of its inputs.</summary>
internal sealed class GraphOnnx : OnnxLayerMapping<Graph>
{
    protected override string Export(Graph g, OnnxExportContext context, string path, IReadOnlyList<string> inputs) =>
        ExportAll(g, context, path, inputs)[0];

    /// <summary>Every graph output, in order; a node of several outputs (Split) gives each its own value.</summary>
    protected override IReadOnlyList<string> ExportAll(Graph g, OnnxExportContext context, string path, IReadOnlyList<string> inputs)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal) { [g.Input] = inputs[0] };
        foreach (var node in g.Nodes)
        {
            var outs = context.EmitAll(node.Layer, OnnxExportContext.Join(path, node.Name), [.. node.Inputs.Select(v => values[v])]);
            for (int k = 0; k < node.Outputs.Count; k++) values[node.Outputs[k]] = outs[k];
        }
        return [.. g.Outputs.Select(o => values[o])];
    }
}
