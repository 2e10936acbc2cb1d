using System.Text.Json.Nodes;

namespace MLConv.Training.Layers;

/// <summary>Rebuilds a layer (tree) from the JSON written by <see cref="Layer.ToSpec"/>.</summary>
public static class LayerFactory
{
    public static Layer FromSpec(JsonObject spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        string type = spec["type"]?.GetValue<string>() ?? throw new InvalidDataException("Layer spec has no 'type'.");
        return type switch
        {
            "Conv2d" => new Conv2d(Spec.Int(spec, "inChannels"), Spec.Int(spec, "outChannels"), Spec.Pair(spec, "kernelSize"),
                Spec.Pair(spec, "stride"), Spec.Pad(spec, "padding"), Spec.Pair(spec, "dilation"), Spec.Int(spec, "groups"), Spec.Bool(spec, "bias")),
            "MaxPool2d" => new MaxPool2d(Spec.Pair(spec, "kernelSize"), Spec.Pair(spec, "stride"), Spec.Pad(spec, "padding"), Spec.Pair(spec, "dilation"), Spec.Bool(spec, "ceilMode")),
            "MinPool2d" => new MinPool2d(Spec.Pair(spec, "kernelSize"), Spec.Pair(spec, "stride"), Spec.Pad(spec, "padding"), Spec.Pair(spec, "dilation"), Spec.Bool(spec, "ceilMode")),
            "AvgPool2d" => new AvgPool2d(Spec.Pair(spec, "kernelSize"), Spec.Pair(spec, "stride"), Spec.Pad(spec, "padding"), Spec.Bool(spec, "ceilMode"), Spec.Bool(spec, "countIncludePad")),
            "GlobalAvgPool2d" => new GlobalAvgPool2d(),
            "BatchNorm2d" => new BatchNorm2d(Spec.Int(spec, "numFeatures"), Spec.Double(spec, "eps"), Spec.Double(spec, "momentum")),
            "ReLU" => new ReLU(),
            "Softmax" => new Softmax(),
            "LogSoftmax" => new Softmax(log: true),
            "Dropout" => new Dropout(Spec.Double(spec, "p")),
            "Flatten" => new Flatten(),
            "Linear" => new Linear(Spec.Int(spec, "inFeatures"), Spec.Int(spec, "outFeatures"), Spec.Bool(spec, "bias")),
            "Sequential" => new Sequential(((spec["layers"] as JsonArray) ?? throw new InvalidDataException("Sequential spec lacks 'layers'."))
                .Select(n => FromSpec(n as JsonObject ?? throw new InvalidDataException("Sequential spec has a non-object layer.")))),
            "Concat" => new Concat(Spec.Int(spec, "axis")),
            "Sum" => new Sum(),
            "LocalResponseNorm" => new LocalResponseNorm(Spec.Int(spec, "size"), Spec.Double(spec, "alpha"), Spec.Double(spec, "beta"), Spec.Double(spec, "k")),
            "Reshape" => new Reshape(Spec.Ints(spec, "shape")),
            "Transpose" => new Transpose(Spec.Ints(spec, "perm")),
            "Graph" => new Graph(Spec.String(spec, "input"),
                ((spec["nodes"] as JsonArray) ?? throw new InvalidDataException("Graph spec lacks 'nodes'.")).Select(ReadNode),
                Spec.String(spec, "output")),
            "Residual" => new Residual(FromSpec(spec["body"] as JsonObject ?? throw new InvalidDataException("Residual spec lacks 'body'.")),
                spec["shortcut"] is JsonObject s ? FromSpec(s) : null),
            _ => throw new InvalidDataException($"Unknown layer type '{type}' in the model spec."),
        };
    }

    private static GraphNode ReadNode(JsonNode? n)
    {
        var o = n as JsonObject ?? throw new InvalidDataException("Graph spec has a non-object node.");
        string name = o["name"]?.GetValue<string>() ?? throw new InvalidDataException("Graph spec has a node without 'name'.");
        var layer = o["layer"] as JsonObject ?? throw new InvalidDataException($"Graph node '{name}' lacks 'layer'.");
        var inputs = o["inputs"] as JsonArray ?? throw new InvalidDataException($"Graph node '{name}' lacks 'inputs'.");
        string output = o["output"]?.GetValue<string>() ?? throw new InvalidDataException($"Graph node '{name}' lacks 'output'.");
        return new GraphNode(name, FromSpec(layer), inputs.Select(v => v!.GetValue<string>()), output);
    }
}
