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

    /// <summary>Emits <paramref name="layer"/> (at <paramref name="path"/>) reading <paramref name="inputs"/>; returns its output value.</summary>
    public string Emit(Layer layer, string path, params IReadOnlyList<string> inputs) =>
        (OnnxLayerMappings.For(layer.GetType()) ?? throw new NotSupportedException($"Layer {Describe(path)} {layer} has no ONNX mapping."))
            .Export(layer, this, path, inputs);

    /// <summary>Emits <paramref name="layer"/> and returns every value it gives (<see cref="OnnxLayerMapping.ExportAll"/>).</summary>
    public IReadOnlyList<string> EmitAll(Layer layer, string path, params IReadOnlyList<string> inputs) =>
        (OnnxLayerMappings.For(layer.GetType()) ?? throw new NotSupportedException($"Layer {Describe(path)} {layer} has no ONNX mapping."))
            .ExportAll(layer, this, path, inputs);

    public static string Join(string path, string name) => path.Length == 0 ? name : path + "." + name;

    public static string Join(string path, int index) => Join(path, index.ToString(CultureInfo.InvariantCulture));

    public static string Describe(string path) => path.Length == 0 ? "(root)" : $"'{path}'";
}
