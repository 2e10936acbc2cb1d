using System.Text;
using MLConv.Training.Layers;
using MLConv.Training.Tensors;
using Onnx;

namespace MLConv.Export.Onnx;

/// <summary>
/// One ONNX node as an <see cref="OnnxLayerMapping"/> reads it: attributes by name (any left unread is refused), the
/// activations it reads with their shapes, the constants among its inputs, and the layer that wrote an activation.
/// </summary>
internal sealed class OnnxNodeReader
{
    private readonly Func<string, Tensor?> _float;
    private readonly Func<string, (long[] Values, int[] Shape)?> _int;
    private readonly Func<string, ImportedLayer?> _producer;
    private readonly Dictionary<string, AttributeProto> _attributes;
    private readonly HashSet<string> _read = new(StringComparer.Ordinal);

    internal OnnxNodeReader(NodeProto node, string what, long opset, IReadOnlyList<string> inputs, IReadOnlyList<int> active,
        IReadOnlyList<int[]> activeShapes, Func<string, Tensor?> floats, Func<string, (long[] Values, int[] Shape)?> ints,
        Func<string, ImportedLayer?> producer)
    {
        Node = node;
        What = what;
        Opset = opset;
        Inputs = inputs;
        Active = active;
        ActiveShapes = activeShapes;
        _float = floats;
        _int = ints;
        _producer = producer;
        _attributes = node.Attribute.ToDictionary(a => a.Name, StringComparer.Ordinal);
    }

    public NodeProto Node { get; }

    /// <summary>"node 'name' (OpType)", for messages.</summary>
    public string What { get; }

    public long Opset { get; }

    /// <summary>The import's options (what a mapping may read differently on request).</summary>
    public OnnxImportOptions Options { get; init; } = new();

    /// <summary>Every input name (aliases resolved; "" for an omitted optional input).</summary>
    public IReadOnlyList<string> Inputs { get; }

    /// <summary>Positions in <see cref="Inputs"/> of the activations (values computed from the graph input).</summary>
    public IReadOnlyList<int> Active { get; }

    /// <summary>Shapes of the activations, in <see cref="Active"/> order (batch 1 where the batch is symbolic).</summary>
    public IReadOnlyList<int[]> ActiveShapes { get; }

    /// <summary>The one activation of a single-input operator, read as input 0.</summary>
    public string X => Active.Count == 1 && Active[0] == 0 ? Inputs[0]
        : throw new NotSupportedException($"{What} reads the activations [{string.Join(", ", Active.Select(i => Inputs[i]))}]; its operator takes one, as input 0.");

    /// <summary>The shape of <see cref="X"/>.</summary>
    public int[] Shape => X.Length > 0 ? ActiveShapes[0] : [];

    /// <summary>A layer reading <see cref="X"/>.</summary>
    public ImportedLayer Single(Layer? layer) => new(layer, [X]);

    /// <summary>Every input, all of them activations (Concat, Sum).</summary>
    public string[] Joined()
    {
        if (Active.Count != Inputs.Count)
            throw new NotSupportedException($"{What}: joining activations with constants ({string.Join(", ", Inputs.Where((_, i) => !Active.Contains(i)))}) is not supported.");
        return [.. Inputs];
    }

    public Tensor Constant(int i) =>
        i < Inputs.Count && Inputs[i].Length > 0 && _float(Inputs[i]) is { } t ? t
            : throw new NotSupportedException($"{What}: input {i} must be a float constant (an initializer or a constant subgraph).");

    public bool HasInput(int i) => i < Inputs.Count && Inputs[i].Length > 0;

    public long[] IntConstant(int i) =>
        i < Inputs.Count && Inputs[i].Length > 0 && _int(Inputs[i]) is { } t && t.Shape.Length <= 1 ? t.Values
            : throw new NotSupportedException($"{What}: input {i} must be a constant 1-D integer tensor (computed shapes are not supported).");

    /// <summary>The layer (and its inputs) that computed the activation <paramref name="value"/>, if a layer did.</summary>
    public ImportedLayer? Producer(string value) => _producer(value);

    private AttributeProto? Get(string name)
    {
        _read.Add(name);
        return _attributes.GetValueOrDefault(name);
    }

    /// <summary>
    /// A node of exactly one activation and one float constant (Add, Sub, Mul, Div): which input is the activation, and the
    /// constant with its axes right-aligned to the activation's — before opset 7, where the legacy broadcast/axis
    /// attributes place the constant's axes from 'axis', trailing ones are added. False when the node is not of that form
    /// or the constant has more axes than the activation.
    /// </summary>
    public bool TryActivationAndConstant(out int active, out Tensor constant)
    {
        active = -1;
        constant = null!;
        if (Inputs.Count != 2 || Active.Count != 1) return false;
        int a = Active[0];
        if (Inputs[1 - a].Length == 0) return false;
        Tensor c;
        try { c = Constant(1 - a); }
        catch (NotSupportedException) { return false; }
        int rank = ActiveShapes[0].Length;
        Accept("consumed_inputs");
        bool legacy = Int("broadcast", 0) != 0;
        long axis = Int("axis", -1);
        if (legacy && axis >= 0)
        {
            int trailing = rank - (int)axis - c.Rank;
            if (axis > rank || trailing < 0) return false;
            c = c.Reshape([.. c.ShapeArray, .. Enumerable.Repeat(1, trailing)]);
        }
        if (c.Rank > rank) return false;
        (active, constant) = (a, c);
        return true;
    }

    /// <summary>Marks attributes as read without using them (legacy ones with no effect: is_test, consumed_inputs, ...).</summary>
    public void Accept(params string[] names)
    {
        foreach (var n in names) _read.Add(n);
    }

    public bool Has(string name) => Get(name) is not null;
    public long Int(string name, long fallback) => Get(name) is { } a ? a.I : fallback;
    public float Float(string name, float fallback) => Get(name) is { } a ? a.F : fallback;
    public string String(string name, string fallback) => Get(name) is { } a ? Encoding.UTF8.GetString(a.S.Span) : fallback;
    public long[]? Ints(string name) => Get(name) is { } a ? [.. a.Ints] : null;

    public Size2 Pair(string name, Size2? fallback)
    {
        var v = Ints(name);
        if (v is null) return fallback ?? throw new NotSupportedException($"{What}: attribute '{name}' is required.");
        if (v.Length != 2) throw new NotSupportedException($"{What}: '{name}' must have 2 entries (2-D); got [{string.Join(", ", v)}].");
        return ((int)v[0], (int)v[1]);
    }

    /// <summary>Explicit pads, or auto_pad resolved against the input size (SAME_UPPER puts the odd cell at the end).</summary>
    public Padding Pads(Size2 k, Size2 s, Size2 d, bool ceil)
    {
        string auto = String("auto_pad", "NOTSET");
        if (auto is "NOTSET")
        {
            var p = Ints("pads") ?? [0, 0, 0, 0];
            if (p.Length != 4) throw new NotSupportedException($"{What}: pads must have 4 entries; got [{string.Join(", ", p)}].");
            return Padding.Explicit((int)p[0], (int)p[1], (int)p[2], (int)p[3]);
        }
        if (auto is "VALID") return 0;
        if (auto is not ("SAME_UPPER" or "SAME_LOWER")) throw new NotSupportedException($"{What}: auto_pad '{auto}' is unknown.");
        if (ceil) throw new NotSupportedException($"{What}: auto_pad SAME with ceil_mode is not supported.");
        var shape = Shape;
        if (shape.Length != 4) throw new NotSupportedException($"{What}: auto_pad SAME needs an [N, C, H, W] input; got [{string.Join(", ", shape)}].");
        static int Total(int input, int kernel, int stride, int dil) =>
            Math.Max(0, ((input + stride - 1) / stride - 1) * stride + dil * (kernel - 1) + 1 - input);
        int th = Total(shape[2], k.H, s.H, d.H), tw = Total(shape[3], k.W, s.W, d.W);
        return auto == "SAME_UPPER"
            ? Padding.Explicit(th / 2, tw / 2, th - th / 2, tw - tw / 2)
            : Padding.Explicit(th - th / 2, tw - tw / 2, th / 2, tw / 2);
    }

    /// <summary>Refuses attributes no reader looked at.</summary>
    public void ThrowOnUnread()
    {
        var unread = _attributes.Keys.Where(k => !_read.Contains(k)).ToList();
        if (unread.Count > 0) throw new NotSupportedException($"{What}: attribute(s) {string.Join(", ", unread)} not supported.");
    }

    /// <summary>Copies <paramref name="from"/> into <paramref name="to"/>, refusing a different element count.</summary>
    public void CopyExact(Tensor from, Tensor to)
    {
        if (from.Length != to.Length) throw new NotSupportedException($"{What}: a tensor has {from.Length} values; {to.Length} expected.");
        from.Span.CopyTo(to.Span);
    }

    public static Tensor TransposeMatrix(Tensor m)
    {
        int r = m.Shape[0], c = m.Shape[1];
        var t = new Tensor(c, r);
        for (int i = 0; i < r; i++)
            for (int j = 0; j < c; j++) t[j * r + i] = m[i * c + j];
        return t;
    }
}
