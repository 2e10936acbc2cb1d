using MLConv.Training.Layers;

namespace MLConv.Export.Onnx.Layers;

/// <summary>Reshape ⇄ Reshape to [0, shape…] (0 keeps the batch).</summary>
internal sealed class ReshapeOnnx : OnnxLayerMapping<Reshape>
{
    public override IReadOnlyList<string> Imports => ["Reshape"];

    protected override string Export(Reshape r, OnnxExportContext context, string path, IReadOnlyList<string> inputs) =>
        context.Builder.Node("Reshape", path, r.ToString(),
            [inputs[0], context.Builder.Int64Initializer(OnnxExportContext.Join(path, "shape"), [0, .. r.Shape.Select(d => (long)d)], r.Shape.Count + 1)]);

    /// <summary>
    /// Reshape of an activation, batch axis kept: the target's first entry must be 0, −1 (inferred as the
    /// batch) or the batch itself (a model exported for batch 1 writes 1); the rest is MLConv's per-sample shape.
    /// </summary>
    public override ImportedLayer Import(OnnxNodeReader n)
    {
        if (n.Int("allowzero", 0) != 0) throw new NotSupportedException($"{n.What}: allowzero 1 is not supported.");
        n.Accept("consumed_inputs");
        var shape = n.Shape;
        var target = n.Ints("shape") ?? n.IntConstant(1);
        var full = Reshape.Resolve(shape, target);
        string refuse = $"{n.What}: Reshape of [{string.Join(", ", shape)}] to [{string.Join(", ", target)}] does not keep the batch axis first.";
        if (target.Length < 2 || full[0] != shape[0] || !(target[0] is 0 or -1 || target[0] == shape[0])) throw new NotSupportedException(refuse);
        var layer = new Reshape([.. target.Skip(1).Select(d => (int)d)]);
        if (!layer.OutputShape(shape).AsSpan().SequenceEqual(full)) throw new NotSupportedException(refuse);
        return n.Single(layer);
    }
}
