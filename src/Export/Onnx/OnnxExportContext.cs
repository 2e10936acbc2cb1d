using System.Globalization;
using MLConv.Training.Layers;

namespace MLConv.Export.Onnx;

/// <summary>What a <see cref="OnnxLayerMapping"/> writes into: the graph being built, the options, and recursion into sub-layers.</summary>
internal sealed class OnnxExportContext(OnnxExportOptions options)
{
    public OnnxGraphBuilder Builder { get; } = new();
    public OnnxExportOptions Options => options;
    public int Opset => options.Opset;

    /// <summary>Batch norms folded into the preceding convolution.</summary>
    public int Folded { get; set; }

    private readonly Dictionary<string, int[]> _shapes = new(StringComparer.Ordinal);

    /// <summary>Emits <paramref name="layer"/> (at <paramref name="path"/>) reading <paramref name="inputs"/>; returns its output value.</summary>
    public string Emit(Layer layer, string path, params IReadOnlyList<string> inputs)
    {
        string output = (OnnxLayerMappings.For(layer.GetType()) ?? throw new NotSupportedException($"Layer {Describe(path)} {layer} has no ONNX mapping."))
            .Export(layer, this, path, inputs);
        var shapes = inputs.Select(ShapeOf).ToList();
        if (shapes.All(s => s is not null))
            SetShape(output, layer is MultiInputLayer m ? m.OutputShape([.. shapes!]) : layer.OutputShape(shapes[0]!));
        return output;
    }

    /// <summary>Records the shape (batch 1) of a value, for mappings whose attributes depend on their input's size (<see cref="ShapeOf"/>).</summary>
    public void SetShape(string value, int[] shape) => _shapes[value] = shape;

    /// <summary>The shape (batch 1) of a value emitted through <see cref="Emit"/>, or null when not known.</summary>
    public int[]? ShapeOf(string value) => _shapes.GetValueOrDefault(value);

    /// <summary>Emits <paramref name="layer"/> and returns every value it gives (<see cref="OnnxLayerMapping.ExportAll"/>).</summary>
    public IReadOnlyList<string> EmitAll(Layer layer, string path, params IReadOnlyList<string> inputs) =>
        (OnnxLayerMappings.For(layer.GetType()) ?? throw new NotSupportedException($"Layer {Describe(path)} {layer} has no ONNX mapping."))
            .ExportAll(layer, this, path, inputs);

    public static string Join(string path, string name) => path.Length == 0 ? name : path + "." + name;

    public static string Join(string path, int index) => Join(path, index.ToString(CultureInfo.InvariantCulture));

    public static string Describe(string path) => path.Length == 0 ? "(root)" : $"'{path}'";
}
