using MLConv.Training.Layers;

namespace MLConv.Export.Onnx.Layers;

/// <summary>Frozen → its inner block (inference is the same; freezing is a training-time notion that ONNX does not carry).</summary>
internal sealed class FrozenOnnx : OnnxLayerMapping<Frozen>
{
    protected override string Export(Frozen f, OnnxExportContext context, string path, IReadOnlyList<string> inputs) =>
        context.Emit(f.Inner, OnnxExportContext.Join(path, "inner"), inputs);
}
