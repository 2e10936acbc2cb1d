using System.Reflection;
using MLConv.Training.Layers;

namespace MLConv.Export.Onnx;

/// <summary>
/// How one MLConv layer type is written to ONNX and which ONNX operators are read back into it. One subclass per
/// layer type, in its own file under <c>Onnx/Layers/</c>; <see cref="OnnxLayerMappings"/> finds them by reflection, so a
/// new layer needs no edit of the exporter or the importer.
/// </summary>
internal abstract class OnnxLayerMapping
{
    public abstract Type LayerType { get; }

    /// <summary>The ONNX operators read into this layer type; each operator is claimed by one mapping.</summary>
    public virtual IReadOnlyList<string> Imports => [];

    /// <summary>The lowest opset that can express <paramref name="layer"/>, with the reason when above the minimum; throws <see cref="NotSupportedException"/> when no opset can.</summary>
    public virtual (int Opset, string Why) RequiredOpset(Layer layer, string where) => (OnnxVersions.MinOpset, "");

    /// <summary>Emits the nodes of <paramref name="layer"/> reading <paramref name="inputs"/> and returns the name of its output value.</summary>
    public abstract string Export(Layer layer, OnnxExportContext context, string path, IReadOnlyList<string> inputs);

    /// <summary>
    /// Emits the nodes of <paramref name="layer"/> and returns every value it gives: one for most layers, one per output of a
    /// <see cref="MultiOutputLayer"/> or of a <see cref="Graph"/> with several outputs.
    /// </summary>
    public virtual IReadOnlyList<string> ExportAll(Layer layer, OnnxExportContext context, string path, IReadOnlyList<string> inputs) =>
        [Export(layer, context, path, inputs)];

    /// <summary>Reads one node whose operator is in <see cref="Imports"/>.</summary>
    public virtual ImportedLayer Import(OnnxNodeReader node) =>
        throw new NotSupportedException($"{node.What}: {GetType().Name} reads no operator.");

    /// <summary>
    /// Operators of other mappings (or of none) whose nodes this mapping reads first, when a node completes a pattern that
    /// this mapping's layer is written as (Mul(x, Sigmoid(x)) is a SiLU): see <see cref="TryFuse"/>.
    /// </summary>
    public virtual IReadOnlyList<string> Fuses => [];

    /// <summary>Reads a node whose operator is in <see cref="Fuses"/> as this mapping's layer, or returns null to leave it to its operator's mapping.</summary>
    public virtual ImportedLayer? TryFuse(OnnxNodeReader node) => null;

    /// <summary>True for operators whose extra outputs (Dropout's mask) may be ignored.</summary>
    public virtual bool IgnoresExtraOutputs => false;
}

/// <summary>A node read from ONNX: the layer and the activations it reads; a null layer makes the output another name for <c>Inputs[0]</c>.</summary>
internal sealed record ImportedLayer(Layer? Layer, string[] Inputs);

/// <summary>A mapping typed by its layer.</summary>
internal abstract class OnnxLayerMapping<T> : OnnxLayerMapping where T : Layer
{
    public sealed override Type LayerType => typeof(T);

    public sealed override (int Opset, string Why) RequiredOpset(Layer layer, string where) => RequiredOpset((T)layer, where);

    public sealed override string Export(Layer layer, OnnxExportContext context, string path, IReadOnlyList<string> inputs) =>
        Export((T)layer, context, path, inputs);

    public sealed override IReadOnlyList<string> ExportAll(Layer layer, OnnxExportContext context, string path, IReadOnlyList<string> inputs) =>
        ExportAll((T)layer, context, path, inputs);

    protected virtual (int Opset, string Why) RequiredOpset(T layer, string where) => (OnnxVersions.MinOpset, "");

    protected abstract string Export(T layer, OnnxExportContext context, string path, IReadOnlyList<string> inputs);

    protected virtual IReadOnlyList<string> ExportAll(T layer, OnnxExportContext context, string path, IReadOnlyList<string> inputs) =>
        [Export(layer, context, path, inputs)];
}

/// <summary>The registry of <see cref="OnnxLayerMapping"/>s: by layer type (export) and by operator (import).</summary>
internal static class OnnxLayerMappings
{
    private static readonly Dictionary<Type, OnnxLayerMapping> ByLayer;
    private static readonly Dictionary<string, OnnxLayerMapping> ByOperator = new(StringComparer.Ordinal);
    private static readonly ILookup<string, OnnxLayerMapping> Fusing;

    static OnnxLayerMappings()
    {
        var all = typeof(OnnxLayerMapping).Assembly.GetTypes()
            .Where(t => t.IsSubclassOf(typeof(OnnxLayerMapping)) && !t.IsAbstract)
            .Select(t => (OnnxLayerMapping)Activator.CreateInstance(t, nonPublic: true)!)
            .ToList();
        ByLayer = all.ToDictionary(m => m.LayerType);
        foreach (var m in all)
            foreach (var op in m.Imports)
                if (!ByOperator.TryAdd(op, m))
                    throw new InvalidOperationException($"ONNX operator {op} is claimed by {ByOperator[op].GetType().Name} and {m.GetType().Name}.");
        Fusing = all.SelectMany(m => m.Fuses.Select(op => (op, m))).ToLookup(p => p.op, p => p.m, StringComparer.Ordinal);
    }

    /// <summary>The layer types that export.</summary>
    public static IReadOnlyCollection<Type> LayerTypes => ByLayer.Keys;

    /// <summary>The operators the importer reads into layers (besides the constant ops it evaluates).</summary>
    public static IReadOnlyCollection<string> Operators => ByOperator.Keys;

    public static OnnxLayerMapping? For(Type layerType) => ByLayer.GetValueOrDefault(layerType);

    public static OnnxLayerMapping? ForOperator(string opType) => ByOperator.GetValueOrDefault(opType);

    /// <summary>The mappings that may read a node of <paramref name="opType"/> as a pattern before its own mapping does.</summary>
    public static IEnumerable<OnnxLayerMapping> FusingOperator(string opType) => Fusing[opType];
}
