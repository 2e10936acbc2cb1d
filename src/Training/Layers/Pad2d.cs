using System.Text.Json.Nodes;
using MLConv.Training.Tensors;

namespace MLConv.Training.Layers;

/// <summary>How <see cref="Pad2d"/> fills the border.</summary>
public enum PadMode
{
    /// <summary>A constant value (ONNX "constant").</summary>
    Constant,
    /// <summary>The mirror image without repeating the edge: ... x2 x1 | x0 x1 x2 ... (ONNX "reflect", PyTorch ReflectionPad2d).</summary>
    Reflect,
    /// <summary>The edge value repeated (ONNX "edge", PyTorch ReplicationPad2d).</summary>
    Replicate,
}

/// <summary>
/// Pads the H and W axes of [N, C, H, W]: y[n, c, i, j] = x[n, c, r(i − top), r(j − left)], where r maps an index outside
/// the image to its source (the mirror for reflect, the nearest edge for replicate) or to none (constant: y = value).
/// Backward is the adjoint: dx[src] += dy over every output reading src.
/// </summary>
public sealed class Pad2d : Layer
{
    private Tensor? _y, _dx;
    private int[]? _inShape, _rows, _cols;

    /// <summary>Pads H and W by <paramref name="padding"/> (top, left, bottom, right) in <paramref name="mode"/>.</summary>
    /// <param name="padding">Explicit, non-negative padding (not <see cref="Padding.Same"/>).</param>
    /// <param name="mode">How the border is filled.</param>
    /// <param name="value">The fill value of <see cref="PadMode.Constant"/> (finite).</param>
    /// <exception cref="ArgumentException"><paramref name="padding"/> is Same.</exception>
    /// <exception cref="ArgumentOutOfRangeException">Negative padding, an unknown mode or a non-finite value.</exception>
    public Pad2d(Padding padding, PadMode mode = PadMode.Constant, float value = 0f)
    {
        if (padding.IsSame) throw new ArgumentException("Pad2d takes explicit padding.", nameof(padding));
        if (padding.Top < 0 || padding.Left < 0 || padding.Bottom < 0 || padding.Right < 0)
            throw new ArgumentOutOfRangeException(nameof(padding), padding, "padding must be >= 0.");
        if (!Enum.IsDefined(mode)) throw new ArgumentOutOfRangeException(nameof(mode), mode, "Unknown pad mode.");
        if (!float.IsFinite(value)) throw new ArgumentOutOfRangeException(nameof(value), value, "value must be finite.");
        Padding = padding;
        Mode = mode;
        Value = mode == PadMode.Constant ? value : 0f;
    }

    /// <summary>Rows and columns added: top, left, bottom, right.</summary>
    public Padding Padding { get; }
    /// <summary>How the border is filled.</summary>
    public PadMode Mode { get; }
    /// <summary>The fill of <see cref="PadMode.Constant"/>; 0 otherwise.</summary>
    public float Value { get; }

    /// <inheritdoc/>
    public override int[] OutputShape(int[] inputShape)
    {
        CheckRank(inputShape, 4, "Pad2d");
        int h = inputShape[2], w = inputShape[3];
        if (Mode == PadMode.Reflect && (Padding.Top >= h || Padding.Bottom >= h || Padding.Left >= w || Padding.Right >= w))
            throw new ArgumentException($"Pad2d: reflect padding {Padding} must be smaller than the input's {h}x{w}.", "x");
        if (Mode == PadMode.Replicate && (h == 0 || w == 0) && Padding != default)
            throw new ArgumentException("Pad2d: replicate padding of an empty input.", "x");
        return [inputShape[0], inputShape[1], h + Padding.Top + Padding.Bottom, w + Padding.Left + Padding.Right];
    }

    /// <summary>The source index of each output index along one axis, −1 for a constant cell.</summary>
    private int[] SourceMap(int size, int begin, int end)
    {
        var map = new int[size + begin + end];
        for (int o = 0; o < map.Length; o++)
        {
            int i = o - begin;
            map[o] = (uint)i < (uint)size ? i : Mode switch
            {
                PadMode.Reflect => i < 0 ? -i : 2 * (size - 1) - i,
                PadMode.Replicate => Math.Clamp(i, 0, size - 1),
                _ => -1,
            };
        }
        return map;
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor x, bool training)
    {
        CheckRank(x, 4, "Pad2d");
        var y = Tensor.Reuse(ref _y, OutputShape(x.ShapeArray));
        if (_inShape is null || _inShape[2] != x.H || _inShape[3] != x.W)
        {
            _rows = SourceMap(x.H, Padding.Top, Padding.Bottom);
            _cols = SourceMap(x.W, Padding.Left, Padding.Right);
        }
        _inShape = x.ShapeArray;
        int[] rows = _rows!, cols = _cols!;
        int inPlane = x.H * x.W, outPlane = y.H * y.W, ow = y.W;
        float[] xd = x.Data, yd = y.Data;
        for (int p = 0; p < x.N * x.C; p++)
        for (int i = 0; i < rows.Length; i++)
        {
            int yo = p * outPlane + i * ow, r = rows[i];
            if (r < 0) { yd.AsSpan(yo, ow).Fill(Value); continue; }
            int xo = p * inPlane + r * x.W;
            for (int j = 0; j < ow; j++) yd[yo + j] = cols[j] < 0 ? Value : xd[xo + cols[j]];
        }
        return y;
    }

    /// <inheritdoc/>
    public override Tensor Backward(Tensor dy)
    {
        CheckSameShape(dy, _y, "Pad2d");
        var dx = Tensor.Reuse(ref _dx, _inShape!);
        dx.Clear();
        int[] rows = _rows!, cols = _cols!;
        int inPlane = dx.H * dx.W, outPlane = dy.H * dy.W, ow = dy.W;
        float[] dxd = dx.Data, dyd = dy.Data;
        for (int p = 0; p < dx.N * dx.C; p++)
        for (int i = 0; i < rows.Length; i++)
        {
            int r = rows[i];
            if (r < 0) continue;
            int yo = p * outPlane + i * ow, xo = p * inPlane + r * dx.W;
            for (int j = 0; j < ow; j++)
                if (cols[j] >= 0) dxd[xo + cols[j]] += dyd[yo + j];
        }
        return dx;
    }

    internal static string ModeName(PadMode mode) => mode switch { PadMode.Reflect => "reflect", PadMode.Replicate => "replicate", _ => "constant" };

    /// <inheritdoc/>
    public override JsonObject ToSpec() => new()
    {
        ["type"] = TypeName,
        ["padding"] = new JsonArray(Padding.Top, Padding.Left, Padding.Bottom, Padding.Right),
        ["mode"] = ModeName(Mode),
        ["value"] = (double)Value,
    };

    /// <summary>Rebuilds a <see cref="Pad2d"/> from <paramref name="spec"/>, the JSON its <see cref="Layer.ToSpec"/> writes (<see cref="LayerFactory"/> calls this).</summary>
    public static Pad2d FromSpec(JsonObject spec)
    {
        string mode = Spec.String(spec, "mode");
        return new(Spec.Pad(spec, "padding"), mode switch
        {
            "constant" => PadMode.Constant,
            "reflect" => PadMode.Reflect,
            "replicate" => PadMode.Replicate,
            _ => throw new InvalidDataException($"Pad2d: unknown mode '{mode}'."),
        }, (float)Spec.Double(spec, "value"));
    }

    /// <inheritdoc/>
    public override string ToString() => Mode == PadMode.Constant
        ? $"Pad2d({Padding}, value={Value.ToString(System.Globalization.CultureInfo.InvariantCulture)})"
        : $"Pad2d({Padding}, mode={ModeName(Mode)})";
}
