using System.Text.Json.Nodes;
using MLConv.Training.Tensors;

namespace MLConv.Training.Layers;

/// <summary>One node of a <see cref="Graph"/>: a layer, the values it reads (in order) and the one value it writes.</summary>
public sealed class GraphNode
{
    public GraphNode(string name, Layer layer, IEnumerable<string> inputs, string output)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (name.Contains('.')) throw new ArgumentException($"Node name '{name}' contains '.', which separates parameter paths.", nameof(name));
        Name = name;
        Layer = layer ?? throw new ArgumentNullException(nameof(layer));
        ArgumentNullException.ThrowIfNull(inputs);
        Inputs = [.. inputs];
        if (Inputs.Count == 0 || Inputs.Any(string.IsNullOrEmpty))
            throw new ArgumentException($"Node '{name}' must read at least one value, each with a non-empty name; got [{string.Join(", ", Inputs)}].", nameof(inputs));
        if (layer is not MultiInputLayer && Inputs.Count != 1)
            throw new ArgumentException($"Node '{name}': {layer} takes one input; got {Inputs.Count} ({string.Join(", ", Inputs)}).", nameof(inputs));
        ArgumentException.ThrowIfNullOrEmpty(output);
        Output = output;
    }

    /// <summary>The node's name in parameter paths ("block1_conv.weight").</summary>
    public string Name { get; }
    public Layer Layer { get; }
    public IReadOnlyList<string> Inputs { get; }
    public string Output { get; }

    public override string ToString() => $"{Output} = {Name}: {Layer}({string.Join(", ", Inputs)})";
}

/// <summary>
/// A directed acyclic graph of layers over named values: one graph input, nodes that each read
/// values and write one, one graph output. Residual blocks, Inception and fire modules, ShuffleNet
/// units — any CNN whose tensors branch and join — are Graphs.
///   forward   the nodes in topological order, each reading the values it names
///   backward  the nodes in reverse order; where a value feeds k node inputs its gradient is the sum
///             of the k contributions, dL/dv = Σ_{uses u} ∂L/∂v|_u (the multivariate chain rule)
/// Construction validates the graph: unique node names and values, every input defined, no cycle,
/// every value used (or the output); an ArgumentException says what is wrong.
/// </summary>
public sealed class Graph : Layer
{
    private readonly GraphNode[] _nodes;   // topological order
    private readonly int[][] _reads;       // value ids per node input
    private readonly int[] _writes;        // value id per node
    private readonly int[] _uses;          // number of node inputs reading each value
    private readonly bool[] _readsOnlyInput;
    private readonly Tensor?[] _values, _grads, _gradBuffers;
    private readonly Tensor[][] _gathered;
    private readonly int _input, _output;
    private Tensor? _x, _zeroDx;

    public Graph(string input, IEnumerable<GraphNode> nodes, string output)
    {
        ArgumentException.ThrowIfNullOrEmpty(input);
        ArgumentException.ThrowIfNullOrEmpty(output);
        ArgumentNullException.ThrowIfNull(nodes);
        var given = nodes.ToArray();
        for (int i = 0; i < given.Length; i++)
            if (given[i] is null) throw new ArgumentException($"Node {i} is null.", nameof(nodes));

        var names = new HashSet<string>(StringComparer.Ordinal);
        var layers = new HashSet<Layer>(ReferenceEqualityComparer.Instance);
        var writer = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < given.Length; i++)
        {
            var n = given[i];
            if (!names.Add(n.Name)) throw new ArgumentException($"Two nodes are named '{n.Name}'.", nameof(nodes));
            if (!layers.Add(n.Layer)) throw new ArgumentException($"Node '{n.Name}' reuses a layer of another node; each node needs its own layer instance.", nameof(nodes));
            if (n.Output == input) throw new ArgumentException($"Node '{n.Name}' writes '{n.Output}', the graph input.", nameof(nodes));
            if (!writer.TryAdd(n.Output, i))
                throw new ArgumentException($"Value '{n.Output}' is written by both node '{given[writer[n.Output]].Name}' and node '{n.Name}'.", nameof(nodes));
        }
        foreach (var n in given)
            foreach (var v in n.Inputs)
                if (v != input && !writer.ContainsKey(v))
                    throw new ArgumentException($"Node '{n.Name}' reads value '{v}', which no node writes and which is not the graph input '{input}'.", nameof(nodes));
        if (output != input && !writer.ContainsKey(output))
            throw new ArgumentException($"The graph output '{output}' is written by no node and is not the graph input.", nameof(output));

        _nodes = TopologicalOrder(given, writer);

        // Value ids: 0 is the graph input, node i (in topological order) writes value i + 1.
        var id = new Dictionary<string, int>(StringComparer.Ordinal) { [input] = 0 };
        for (int i = 0; i < _nodes.Length; i++) id[_nodes[i].Output] = i + 1;
        _input = 0;
        _output = id[output];
        _writes = [.. _nodes.Select(n => id[n.Output])];
        _reads = [.. _nodes.Select(n => n.Inputs.Select(v => id[v]).ToArray())];
        _uses = new int[_nodes.Length + 1];
        foreach (var r in _reads) foreach (int v in r) _uses[v]++;
        for (int v = 0; v < _uses.Length; v++)
            if (_uses[v] == 0 && v != _output)
                throw new ArgumentException(v == 0
                    ? $"No node reads the graph input '{input}'."
                    : $"Value '{_nodes[v - 1].Output}' (written by node '{_nodes[v - 1].Name}') is neither read by a node nor the graph output '{output}'.", nameof(nodes));
        _readsOnlyInput = [.. _reads.Select(r => r.All(v => v == _input))];
        _values = new Tensor?[_uses.Length];
        _grads = new Tensor?[_uses.Length];
        _gradBuffers = new Tensor?[_uses.Length];
        _gathered = [.. _reads.Select(r => new Tensor[r.Length])];
        Input = input;
        Output = output;
        OnComputeInputGradientChanged();
    }

    /// <summary>Kahn's algorithm; among ready nodes the earliest given goes first, so a given topological order is kept.</summary>
    private static GraphNode[] TopologicalOrder(GraphNode[] given, Dictionary<string, int> writer)
    {
        var pending = new int[given.Length];
        var readers = new List<int>[given.Length];
        for (int i = 0; i < given.Length; i++) readers[i] = [];
        for (int i = 0; i < given.Length; i++)
            foreach (var v in given[i].Inputs)
                if (writer.TryGetValue(v, out int w)) { pending[i]++; readers[w].Add(i); }
        var ready = new SortedSet<int>(Enumerable.Range(0, given.Length).Where(i => pending[i] == 0));
        var order = new List<GraphNode>(given.Length);
        while (ready.Count > 0)
        {
            int i = ready.Min;
            ready.Remove(i);
            order.Add(given[i]);
            foreach (int r in readers[i])
                if (--pending[r] == 0) ready.Add(r);
        }
        if (order.Count < given.Length)
        {
            var stuck = given.Where((_, i) => pending[i] > 0).Select(n => $"'{n.Name}'");
            throw new ArgumentException($"The graph has a cycle through the nodes {string.Join(", ", stuck)}.", "nodes");
        }
        return [.. order];
    }

    public string Input { get; }
    public string Output { get; }

    /// <summary>The nodes in the order forward runs them (topological).</summary>
    public IReadOnlyList<GraphNode> Nodes => _nodes;

    /// <summary>
    /// The graph cut at <paramref name="value"/>: the nodes it is computed from, with <paramref name="value"/> as the output.
    /// The new graph shares this one's layers (and weights); use one or the other.
    /// </summary>
    public Graph Until(string value)
    {
        ArgumentException.ThrowIfNullOrEmpty(value);
        var writer = _nodes.ToDictionary(n => n.Output, StringComparer.Ordinal);
        if (value != Input && !writer.ContainsKey(value))
            throw new ArgumentException($"The graph has no value '{value}' (values: {string.Join(", ", _nodes.Select(n => n.Output).Take(40))}{(_nodes.Length > 40 ? ", …" : "")}).", nameof(value));
        var keep = new HashSet<string>(StringComparer.Ordinal) { value };
        for (int i = _nodes.Length - 1; i >= 0; i--)
            if (keep.Contains(_nodes[i].Output))
                foreach (var v in _nodes[i].Inputs) keep.Add(v);
        return new Graph(Input, _nodes.Where(n => keep.Contains(n.Output)).Select(n => new GraphNode(n.Name, n.Layer, n.Inputs, n.Output)), value);
    }

    public override IReadOnlyList<(string Name, Layer Layer)> Children => [.. _nodes.Select(n => (n.Name, n.Layer))];

    /// <summary>Shapes of every value (graph input first) for a batch of the given input shape.</summary>
    public IReadOnlyDictionary<string, int[]> ValueShapes(int[] inputShape)
    {
        ArgumentNullException.ThrowIfNull(inputShape);
        var shapes = new Dictionary<string, int[]>(StringComparer.Ordinal) { [Input] = inputShape };
        foreach (var n in _nodes)
        {
            try
            {
                shapes[n.Output] = n.Layer is MultiInputLayer m
                    ? m.OutputShape([.. n.Inputs.Select(v => shapes[v])])
                    : n.Layer.OutputShape(shapes[n.Inputs[0]]);
            }
            catch (ArgumentException e) when (e.ParamName is "x" or "inputShape" or "inputs" or "inputShapes")
            {
                throw new ArgumentException($"Graph node '{n.Name}' ({n.Layer}): {e.Message}", "x", e);
            }
        }
        return shapes;
    }

    public override int[] OutputShape(int[] inputShape) => ValueShapes(inputShape)[Output];

    public override Tensor Forward(Tensor x, bool training)
    {
        ArgumentNullException.ThrowIfNull(x);
        _x = x;
        _values[_input] = x;
        for (int i = 0; i < _nodes.Length; i++)
        {
            var reads = _reads[i];
            Tensor y;
            try
            {
                if (_nodes[i].Layer is MultiInputLayer m)
                {
                    var ins = _gathered[i];
                    for (int k = 0; k < reads.Length; k++) ins[k] = _values[reads[k]]!;
                    y = m.Forward(ins, training);
                }
                else y = _nodes[i].Layer.Forward(_values[reads[0]]!, training);
            }
            catch (ArgumentException e) when (e.ParamName is "x" or "inputs" or "inputShapes")
            {
                throw new ArgumentException($"Graph node '{_nodes[i].Name}' ({_nodes[i].Layer}): {e.Message}", nameof(x), e);
            }
            _values[_writes[i]] = y;
        }
        return _values[_output]!;
    }

    public override Tensor Backward(Tensor dy)
    {
        ArgumentNullException.ThrowIfNull(dy);
        CheckSameShape(dy, _values[_output], "Graph");
        Array.Clear(_grads);
        _grads[_output] = dy;
        for (int i = _nodes.Length - 1; i >= 0; i--)
        {
            var node = _nodes[i];
            var g = _grads[_writes[i]]!;
            var reads = _reads[i];
            if (node.Layer is MultiInputLayer m)
            {
                var dxs = m.BackwardMany(g);
                for (int k = 0; k < reads.Length; k++) Accumulate(reads[k], dxs[k]);
            }
            else Accumulate(reads[0], node.Layer.Backward(g));
        }
        if (_grads[_input] is { } dx) return dx;
        // The input gradient was not asked for (ComputeInputGradient is false): a zero tensor stands in.
        var zero = Tensor.Reuse(ref _zeroDx, _x!.ShapeArray);
        zero.Clear();
        return zero;
    }

    /// <summary>A node that reads only the graph input needs its dL/dX only when the graph's own is asked for.</summary>
    protected override void OnComputeInputGradientChanged()
    {
        for (int i = 0; i < _nodes.Length; i++) _nodes[i].Layer.ComputeInputGradient = ComputeInputGradient || !_readsOnlyInput[i];
    }

    /// <summary>Adds one use's contribution to dL/dv; a value read once takes the contribution as it is.</summary>
    private void Accumulate(int v, Tensor d)
    {
        if (v == _input && !ComputeInputGradient) return;
        if (_uses[v] == 1) { _grads[v] = d; return; }
        if (_grads[v] is not { } sum)
        {
            sum = Tensor.Reuse(ref _gradBuffers[v], d.ShapeArray);
            d.Span.CopyTo(sum.Span);
            _grads[v] = sum;
        }
        else System.Numerics.Tensors.TensorPrimitives.Add(sum.Span, d.Span, sum.Span);
    }

    public override long MultiplyAccumulates(int[] inputShape)
    {
        var shapes = ValueShapes(inputShape);
        long total = 0;
        foreach (var n in _nodes)
            total += n.Layer is MultiInputLayer m
                ? m.MultiplyAccumulates([.. n.Inputs.Select(v => shapes[v])])
                : n.Layer.MultiplyAccumulates(shapes[n.Inputs[0]]);
        return total;
    }

    public override JsonObject ToSpec() => new()
    {
        ["type"] = TypeName,
        ["input"] = Input,
        ["output"] = Output,
        ["nodes"] = new JsonArray([.. _nodes.Select(n => (JsonNode)new JsonObject
        {
            ["name"] = n.Name,
            ["inputs"] = new JsonArray([.. n.Inputs.Select(v => (JsonNode)JsonValue.Create(v))]),
            ["output"] = n.Output,
            ["layer"] = n.Layer.ToSpec(),
        })]),
    };

    public static Graph FromSpec(JsonObject spec) =>
        new(Spec.String(spec, "input"), Spec.Objects(spec, "nodes").Select(ReadNode), Spec.String(spec, "output"));

    private static GraphNode ReadNode(JsonObject o)
    {
        string name = Spec.String(o, "name");
        return new GraphNode(name, LayerFactory.FromSpec(Spec.Object(o, "layer")), Spec.Strings(o, "inputs"), Spec.String(o, "output"));
    }

    public override string ToString() => $"Graph({_nodes.Length} nodes)";
}
