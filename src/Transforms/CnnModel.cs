using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using Microsoft.ML;
using Microsoft.ML.Transforms.Onnx;
using MLConv.Export.Onnx;
using MLConv.Training.Models;
using Onnx;

namespace MLConv.Transforms;

/// <summary>
/// The trained network of a model that holds a TrainCnn step — the fitted pipeline, or the chain
/// <c>mlContext.Model.Load</c> returns. A saved model keeps the network as the ONNX graph its scoring runs (inside the
/// zip); <see cref="FromTransformer"/> reads that graph back with <see cref="OnnxImporter"/> into a <see cref="Network"/>
/// with the class names and the input normalisation it was trained with, so a loaded model can be exported again
/// (<c>OnnxExporter.Export</c>), summarised (<see cref="Network.Summary"/>), saved as an MLConv model file or trained further
/// (<c>new Trainer(options).Fit(network, ...)</c>). It computes what the saved scoring graph computes; layers that
/// export drops (Dropout) are not in it.
/// </summary>
public static class CnnModel
{
    /// <summary>The network of the first TrainCnn step found in <paramref name="model"/> (searched depth-first through chains).</summary>
    /// <exception cref="ArgumentException">The model holds no TrainCnn step (fitted or loaded).</exception>
    public static Network FromTransformer(ITransformer model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return TryGetNetwork(model, out var network) ? network
            : throw new ArgumentException($"The model ({model.GetType().Name}) holds no TrainCnn step: neither a CnnTransformer nor the ONNX scoring graph a saved TrainCnn step loads back as.", nameof(model));
    }

    /// <summary>Like <see cref="FromTransformer"/>; false when <paramref name="model"/> holds no TrainCnn step.</summary>
    public static bool TryGetNetwork(ITransformer model, [NotNullWhen(true)] out Network? network)
    {
        ArgumentNullException.ThrowIfNull(model);
        network = Find(model);
        return network is not null;
    }

    private static Network? Find(ITransformer t)
    {
        if (t is CnnTransformer cnn) return cnn.Network;
        if (t is OnnxTransformer onnx) return FromScoringGraph(onnx);
        if (t is IEnumerable<ITransformer> chain)
            foreach (var inner in chain)
                if (Find(inner) is { } found) return found;
        return null;
    }

    private static Network? FromScoringGraph(OnnxTransformer onnx)
    {
        if (OnnxBytes(onnx) is not { } bytes) return null;
        ModelProto model;
        try { model = ModelProto.Parser.ParseFrom(bytes); }
        catch (Google.Protobuf.InvalidProtocolBufferException) { return null; }
        if (OnnxScoringGraph.ToNetworkGraph(model) is not var (graph, c, h, w, names, norm, arch)) return null;
        var imported = OnnxImporter.Import(graph);
        return new Network(imported.Root, c, h, w, names, norm) { Architecture = arch };
    }

    /// <summary>
    /// The ONNX bytes an <see cref="OnnxTransformer"/> runs. ML.NET 5 keeps them in a file that its internal OnnxModel
    /// holds open as <c>ModelStream</c>; both are read by reflection, as no public member exposes them.
    /// </summary>
    private static byte[]? OnnxBytes(OnnxTransformer onnx)
    {
        const BindingFlags Any = BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic;
        // The member holding the OnnxModel: the field or property whose type has a ModelStream.
        var members = typeof(OnnxTransformer).GetFields(Any).Select(f => (f.FieldType, Get: (Func<object?>)(() => f.GetValue(onnx))))
            .Concat(typeof(OnnxTransformer).GetProperties(Any).Where(p => p.GetIndexParameters().Length == 0).Select(p => (FieldType: p.PropertyType, Get: (Func<object?>)(() => p.GetValue(onnx)))));
        var (type, get) = members.FirstOrDefault(m => m.FieldType.GetProperty("ModelStream", Any) is not null);
        if (type is null || get() is not { } onnxModel) return null;
        if (type.GetProperty("ModelStream", Any)!.GetValue(onnxModel) is not Stream { CanSeek: true, CanRead: true } stream) return null;
        lock (stream)
        {
            long position = stream.Position;
            try
            {
                stream.Position = 0;
                using var copy = new MemoryStream();
                stream.CopyTo(copy);
                return copy.ToArray();
            }
            finally { stream.Position = position; }
        }
    }
}
