using MLConv.Training.Layers;
using Onnx;
using A = MLConv.Export.Onnx.OnnxGraphBuilder;

namespace MLConv.Export.Onnx.Layers;

/// <summary>
/// Pad2d ⇄ Pad over [N, C, H, W] (pads [0, 0, top, left, 0, 0, bottom, right]; modes constant, reflect, edge). Before opset 11
/// pads and value are attributes, from 11 inputs (pads, constant_value), from 18 an optional axes input may name H and W.
/// </summary>
internal sealed class Pad2dOnnx : OnnxLayerMapping<Pad2d>
{
    public override IReadOnlyList<string> Imports => ["Pad"];

    protected override string Export(Pad2d p, OnnxExportContext context, string path, IReadOnlyList<string> inputs)
    {
        var b = context.Builder;
        var q = p.Padding;
        long[] pads = [0, 0, q.Top, q.Left, 0, 0, q.Bottom, q.Right];
        string mode = p.Mode switch { PadMode.Reflect => "reflect", PadMode.Replicate => "edge", _ => "constant" };
        if (context.Opset < 11)
            return b.Node("Pad", path, p.ToString(), [inputs[0]], A.Ints("pads", pads), StringAttribute("mode", mode), A.Float("value", p.Value));
        List<string> ins = [inputs[0], b.Int64Initializer(OnnxExportContext.Join(path, "pads"), pads, 8)];
        if (p.Mode == PadMode.Constant) ins.Add(b.Initializer(OnnxExportContext.Join(path, "value"), [p.Value]));
        return b.Node("Pad", path, p.ToString(), ins, StringAttribute("mode", mode));
    }

    public override ImportedLayer Import(OnnxNodeReader n)
    {
        string mode = n.String("mode", "constant");
        long[] pads;
        float value = 0f;
        if (n.Opset < 11)
        {
            pads = n.Ints("pads") ?? n.Ints("paddings") ?? throw new NotSupportedException($"{n.What}: attribute 'pads' is required.");
            value = n.Float("value", 0f);
        }
        else
        {
            pads = n.IntConstant(1);
            if (n.HasInput(2))
            {
                var v = n.Constant(2);
                if (v.Length != 1) throw new NotSupportedException($"{n.What}: constant_value must be one value; got [{v.ShapeString}].");
                value = v[0];
            }
            if (n.HasInput(3)) pads = ToAllAxes(n, pads, n.IntConstant(3));
        }
        if (pads.Length != 8 || n.Shape.Length != 4)
            throw new NotSupportedException($"{n.What}: only padding of an [N, C, H, W] tensor is read; got pads [{string.Join(", ", pads)}].");
        if (pads[0] != 0 || pads[1] != 0 || pads[4] != 0 || pads[5] != 0)
            throw new NotSupportedException($"{n.What}: only H and W are padded; got pads [{string.Join(", ", pads)}].");
        if (pads.Any(v => v < 0)) throw new NotSupportedException($"{n.What}: negative pads (cropping) are not supported.");
        var padMode = mode switch
        {
            "constant" => PadMode.Constant,
            "reflect" => PadMode.Reflect,
            "edge" => PadMode.Replicate,
            _ => throw new NotSupportedException($"{n.What}: mode '{mode}' is not supported (constant, reflect, edge are)."),
        };
        var layer = new Pad2d(Padding.Explicit((int)pads[2], (int)pads[3], (int)pads[6], (int)pads[7]), padMode, value);
        return layer.Padding == default ? n.Single(null) : n.Single(layer);
    }

    /// <summary>A string attribute (kept here: the graph builder has none, and parallel branches edit it).</summary>
    internal static AttributeProto StringAttribute(string name, string value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = Google.Protobuf.ByteString.CopyFromUtf8(value) };

    /// <summary>Pads given for some axes (opset 18's axes input) spread over all four.</summary>
    private static long[] ToAllAxes(OnnxNodeReader n, long[] pads, long[] axes)
    {
        if (pads.Length != 2 * axes.Length) throw new NotSupportedException($"{n.What}: {pads.Length} pads for {axes.Length} axes.");
        var all = new long[8];
        for (int i = 0; i < axes.Length; i++)
        {
            int a = (int)(axes[i] < 0 ? axes[i] + 4 : axes[i]);
            if ((uint)a >= 4) throw new NotSupportedException($"{n.What}: axis {axes[i]} is out of range for a rank-4 input.");
            all[a] = pads[i];
            all[a + 4] = pads[axes.Length + i];
        }
        return all;
    }
}
