using MLConv.Training.Layers;
using A = MLConv.Export.Onnx.OnnxGraphBuilder;

namespace MLConv.Export.Onnx.Layers;

/// <summary>Concat ⇄ Concat along an axis after the batch axis.</summary>
internal sealed class ConcatOnnx : OnnxLayerMapping<Concat>
{
    public override IReadOnlyList<string> Imports => ["Concat"];

    protected override string Export(Concat c, OnnxExportContext context, string path, IReadOnlyList<string> inputs) =>
        context.Builder.Node("Concat", path, c.ToString(), inputs, A.Int("axis", c.Axis));

    public override ImportedLayer Import(OnnxNodeReader n)
    {
        var inputs = n.Joined();
        int rank = n.ActiveShapes[0].Length;
        long given = n.Int("axis", 1), axis = given < 0 ? given + rank : given;
        if (axis < 1 || axis >= rank) throw new NotSupportedException($"{n.What}: only a concatenation after the batch axis is read (axis {given}, rank {rank}).");
        return new ImportedLayer(inputs.Length == 1 ? null : new Concat((int)axis), inputs);
    }
}
