using Onnx;
using Google.Protobuf;

namespace MLConv.Export.Onnx;

/// <summary>
/// Accumulates a <see cref="GraphProto"/>: nodes with unique names (a layer's path plus the
/// operator, "/0/body/1/Conv", de-duplicated with a suffix), each output value named after its
/// node ("/0/body/1/Conv_output_0"), and initializers with unique names.
/// </summary>
internal sealed class OnnxGraphBuilder
{
    private readonly HashSet<string> _nodeNames = new(StringComparer.Ordinal);
    private readonly HashSet<string> _valueNames = new(StringComparer.Ordinal);

    public GraphProto Graph { get; } = new();

    /// <summary>Reserves a value name (graph input) so that no node output takes it.</summary>
    public void ReserveValue(string name) => _valueNames.Add(name);

    /// <summary>Adds a node with one output and returns the output's value name.</summary>
    public string Node(string opType, string layerPath, string docString, IEnumerable<string> inputs, params AttributeProto[] attributes) =>
        Node(opType, layerPath, docString, inputs, 1, attributes)[0];

    /// <summary>Adds a node with <paramref name="outputs"/> outputs ("…_output_0", "…_output_1", …) and returns their value names.</summary>
    public string[] Node(string opType, string layerPath, string docString, IEnumerable<string> inputs, int outputs, params AttributeProto[] attributes)
    {
        string baseName = "/" + layerPath.Replace('.', '/') + (layerPath.Length == 0 ? "" : "/") + opType;
        string name = Unique(_nodeNames, baseName);
        var node = new NodeProto { Name = name, OpType = opType, DocString = docString };
        node.Input.AddRange(inputs);
        var names = new string[outputs];
        for (int k = 0; k < outputs; k++) node.Output.Add(names[k] = Unique(_valueNames, $"{name}_output_{k}"));
        node.Attribute.AddRange(attributes);
        Graph.Node.Add(node);
        return names;
    }

    /// <summary>Reserves <paramref name="name"/>, or the name with the first free suffix "_k", and returns it.</summary>
    public string ReserveUnique(string name) => Unique(_valueNames, name);

    /// <summary>Adds a FLOAT initializer and returns its (unique) name.</summary>
    public string Initializer(string name, ReadOnlySpan<float> values, params ReadOnlySpan<long> dims)
    {
        string unique = Unique(_valueNames, name);
        Graph.Initializer.Add(OnnxTensors.FromFloats(unique, values, dims));
        return unique;
    }

    /// <summary>Adds an INT64 initializer (e.g. a Reshape target) and returns its (unique) name.</summary>
    public string Int64Initializer(string name, long[] values, params ReadOnlySpan<long> dims)
    {
        string unique = Unique(_valueNames, name);
        var t = new TensorProto { Name = unique, DataType = (int)TensorProto.Types.DataType.Int64 };
        foreach (long d in dims) t.Dims.Add(d);
        t.Int64Data.Add(values);
        Graph.Initializer.Add(t);
        return unique;
    }

    /// <summary>
    /// Renames value <paramref name="from"/> to <paramref name="to"/> in every node (the graph's final
    /// value becomes "logits"); the caller has reserved <paramref name="to"/> for this.
    /// </summary>
    public void RenameValue(string from, string to)
    {
        foreach (var node in Graph.Node)
        {
            for (int i = 0; i < node.Input.Count; i++) if (node.Input[i] == from) node.Input[i] = to;
            for (int i = 0; i < node.Output.Count; i++) if (node.Output[i] == from) node.Output[i] = to;
        }
    }


    private static string Unique(HashSet<string> used, string name)
    {
        if (used.Add(name)) return name;
        for (int k = 1; ; k++)
        {
            string candidate = $"{name}_{k}";
            if (used.Add(candidate)) return candidate;
        }
    }

    public static AttributeProto Int(string name, long value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    public static AttributeProto Float(string name, float value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    public static AttributeProto Ints(string name, params ReadOnlySpan<long> values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        foreach (long v in values) a.Ints.Add(v);
        return a;
    }

    /// <summary>A float tensor type with the given dims; a null entry is the symbolic dimension <paramref name="symbol"/>.</summary>
    public static ValueInfoProto FloatValue(string name, string symbol, params long?[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
            shape.Dim.Add(d is long v ? new TensorShapeProto.Types.Dimension { DimValue = v } : new TensorShapeProto.Types.Dimension { DimParam = symbol });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto
            {
                TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape },
            },
        };
    }
}
