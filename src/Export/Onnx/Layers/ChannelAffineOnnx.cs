using MLConv.Training.Layers;
using MLConv.Training.Tensors;

namespace MLConv.Export.Onnx.Layers;

/// <summary>
/// ChannelAffine → Mul by the scale then Add of the shift, each a constant of shape [C, 1, ...] broadcast over axis 1.
/// Reading back: Add, Sub, Mul or Div of one activation and a constant that is a scalar or per-channel reads as a
/// ChannelAffine (<see cref="TryReadConstantOperand"/>, called by the mappings that claim those operators); an affine of
/// an affine's output folds into one.
/// </summary>
internal sealed class ChannelAffineOnnx : OnnxLayerMapping<ChannelAffine>
{
    protected override string Export(ChannelAffine a, OnnxExportContext context, string path, IReadOnlyList<string> inputs)
    {
        var b = context.Builder;
        long[] dims = [a.Channels, .. Enumerable.Repeat(1L, a.Rank - 2)];
        string scale = b.Initializer(OnnxExportContext.Join(path, "weight"), a.Scale.Value.Span, dims);
        string shift = b.Initializer(OnnxExportContext.Join(path, "bias"), a.Shift.Value.Span, dims);
        string scaled = b.Node("Mul", OnnxExportContext.Join(path, "scale"), a.ToString(), [inputs[0], scale]);
        return b.Node("Add", path, a.ToString(), [scaled, shift]);
    }

    /// <summary>
    /// Add/Sub/Mul/Div of exactly one activation and one float constant that is a scalar or varies along the activation's
    /// axis 1 only (right-aligned numpy broadcasting, or the legacy broadcast/axis attributes before opset 7): the
    /// ChannelAffine computing it, or null when the node is not of that form (c / x, a constant varying over H or W, two
    /// activations, ...). The caller refuses or reads the node otherwise.
    /// </summary>
    internal static ImportedLayer? TryReadConstantOperand(OnnxNodeReader n)
    {
        string op = n.Node.OpType;
        if (op is not ("Add" or "Sub" or "Mul" or "Div") || !n.TryActivationAndConstant(out int active, out var c)) return null;
        var shape = n.ActiveShapes[0];
        int rank = shape.Length;
        if (rank < 2) return null;
        int channels = shape[1];
        // Where the constant's first axis sits among the activation's axes (right-aligned).
        int start = rank - c.Rank;
        for (int i = 0; i < c.Rank; i++)
            if (c.Shape[i] != 1 && !(start + i == 1 && c.Shape[i] == channels)) return null;
        var v = new float[channels];
        for (int k = 0; k < channels; k++) v[k] = c.Length == 1 ? c[0] : c[k];

        var scale = new float[channels];
        var shift = new float[channels];
        for (int k = 0; k < channels; k++)
        {
            (scale[k], shift[k]) = op switch
            {
                "Add" => (1f, v[k]),
                "Sub" when active == 0 => (1f, -v[k]),
                "Sub" => (-1f, v[k]),
                "Mul" => (v[k], 0f),
                "Div" when active == 0 => (1f / v[k], 0f),
                _ => (float.NaN, float.NaN),
            };
            if (float.IsNaN(scale[k])) return null;
        }
        string x = n.Inputs[active];
        // y = (x'·a₁ + b₁)·a + b = x'·(a₁·a) + (b₁·a + b): the affine of an affine is one affine reading the first one's input.
        if (n.Producer(x) is { Layer: ChannelAffine prev } producer && prev.Rank == rank && prev.Channels == channels)
        {
            for (int k = 0; k < channels; k++)
            {
                shift[k] = prev.Shift.Value[k] * scale[k] + shift[k];
                scale[k] = prev.Scale.Value[k] * scale[k];
            }
            return new ImportedLayer(ChannelAffine.FromValues(scale, shift, rank), producer.Inputs);
        }
        return new ImportedLayer(ChannelAffine.FromValues(scale, shift, rank), [x]);
    }
}
