using System.Text.Json.Nodes;
using MLConv.Training.Tensors;

namespace MLConv.Training.Layers;

/// <summary>One node of a <see cref="Graph"/>: a layer, the values it reads (in order) and the values it writes (one, or one per output of a <see cref="MultiOutputLayer"/>).</summary>
public sealed class GraphNode
{
    /// <summary>A node of one output value.</summary>
    /// <inheritdoc cref="GraphNode(string, Layer, IEnumerable{string}, IReadOnlyList{string})"/>
    public GraphNode(string name, Layer layer, IEnumerable<string> inputs, string output) : this(name, layer, inputs, [output]) { }

    /// <summary>A node running <paramref name="layer"/> on the values named <paramref name="inputs"/> and writing the values named <paramref name="outputs"/>.</summary>
    /// <param name="name">The node's name in parameter paths; no '.'.</param>
    /// <param name="layer">The layer; a <see cref="MultiInputLayer"/> for several inputs, a <see cref="MultiOutputLayer"/> for several outputs.</param>
    /// <param name="inputs">The names of the values read, in order (one for a single-input layer).</param>
    /// <param name="outputs">The names of the values written, distinct, one per output of the layer.</param>
    /// <exception cref="ArgumentException">An empty name or one with '.', an input count the layer does not take, or an output count other than the layer's.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="layer"/>, <paramref name="inputs"/> or <paramref name="outputs"/> is null.</exception>
    public GraphNode(string name, Layer layer, IEnumerable<string> inputs, IReadOnlyList<string> outputs)
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
        ArgumentNullException.ThrowIfNull(outputs);
        Outputs = [.. outputs];
        int count = layer is MultiOutputLayer m ? m.OutputCount : 1;
        if (Outputs.Count != count || Outputs.Any(string.IsNullOrEmpty) || Outputs.Distinct(StringComparer.Ordinal).Count() != Outputs.Count)
            throw new ArgumentException($"Node '{name}': {layer} writes {count} value(s), each named once; got [{string.Join(", ", Outputs)}].", nameof(outputs));
    }

    /// <summary>The node's name in parameter paths ("block1_conv.weight").</summary>
    public string Name { get; }
    /// <summary>The node's layer.</summary>
    public Layer Layer { get; }
    /// <summary>The values the node reads, in the layer's input order.</summary>
    public IReadOnlyList<string> Inputs { get; }
    /// <summary>The values the node writes, in the layer's output order.</summary>
    public IReadOnlyList<string> Outputs { get; }
    /// <summary>The (first) value the node writes.</summary>
    public string Output => Outputs[0];

    /// <summary>"outputs = name: layer(inputs)", one line.</summary>
    public override string ToString() => $"{string.Join(", ", Outputs)} = {Name}: {Layer}({string.Join(", ", Inputs)})";
}

/// <summary>
/// A directed acyclic graph of layers over named values: one graph input, nodes that each read
/// values and write one (or several: <see cref="MultiOutputLayer"/>), one or more graph outputs. Residual blocks,
/// Inception and fire modules, ShuffleNet units — any CNN whose tensors branch and join — are Graphs.
///   forward   the nodes in topological order, each reading the values it names
///   backward  the nodes in reverse order; where a value feeds k node inputs (and perhaps is a graph output) its gradient
///             is the sum of the contributions, dL/dv = Σ_{uses u} ∂L/∂v|_u (the multivariate chain rule)
/// As a <see cref="Layer"/> the graph gives its first output (<see cref="Forward"/>) and takes that output's gradient
/// (<see cref="Backward"/>); <see cref="ForwardAll"/> and <see cref="BackwardAll"/> give and take every output.
/// Construction validates the graph: unique node names and values, every input defined, no cycle, every value used
/// (or an output; a multi-output node needs only one of its values used); an ArgumentException says what is wrong.
/// </summary>
public sealed class Graph : Layer
{
    private readonly GraphNode[] _nodes;   // topological order
    private readonly int[][] _reads;       // value ids per node input
    private readonly int[][] _writes;      // value ids per node output
    private readonly int[] _uses;          // node inputs reading each value, plus graph outputs naming it
    private readonly int[] _outputs;       // value ids of the graph outputs
    private readonly bool[] _hasParameters;  // per node
    private readonly bool[] _runsBackward;   // per node: it has parameters to train or feeds a value whose gradient is needed
    private readonly bool[] _needed;         // per value: its gradient is needed (it leads back to the input or a trainable node)
    private readonly Tensor?[] _values, _grads, _gradBuffers;
    private readonly Tensor[][] _gathered;
    private readonly Tensor?[][] _outputGrads;
    private readonly Tensor?[] _firstOnly;
    private readonly int _input;
    private Tensor? _x, _zeroDx;

    /// <summary>A DAG of one output value.</summary>
    /// <inheritdoc cref="Graph(string, IEnumerable{GraphNode}, IReadOnlyList{string})"/>
    public Graph(string input, IEnumerable<GraphNode> nodes, string output) : this(input, nodes, [output]) { }

    /// <summary>A DAG of <paramref name="nodes"/> (in any order; they are sorted topologically) reading the value <paramref name="input"/>.</summary>
    /// <param name="input">The name of the graph's input value.</param>
    /// <param name="nodes">The nodes; each value must be written by exactly one node, and every value read must exist.</param>
    /// <param name="outputs">The names of the graph's output values, distinct; the first is what <see cref="Forward"/> returns.</param>
    /// <exception cref="ArgumentException">No outputs or repeated ones, a null node, two nodes of one name or one layer instance, a cycle, a value written twice (or the input written), a value read that nothing writes, an output nothing writes, or an input no node reads.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="nodes"/> or <paramref name="outputs"/> is null.</exception>
    public Graph(string input, IEnumerable<GraphNode> nodes, IReadOnlyList<string> outputs)
    {
        ArgumentException.ThrowIfNullOrEmpty(input);
        ArgumentNullException.ThrowIfNull(outputs);
        if (outputs.Count == 0 || outputs.Any(string.IsNullOrEmpty) || outputs.Distinct(StringComparer.Ordinal).Count() != outputs.Count)
            throw new ArgumentException($"A graph needs at least one output, each named once; got [{string.Join(", ", outputs)}].", nameof(outputs));
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
            foreach (var o in n.Outputs)
            {
                if (o == input) throw new ArgumentException($"Node '{n.Name}' writes '{o}', the graph input.", nameof(nodes));
                if (!writer.TryAdd(o, i))
                    throw new ArgumentException($"Value '{o}' is written by both node '{given[writer[o]].Name}' and node '{n.Name}'.", nameof(nodes));
            }
        }
        foreach (var n in given)
            foreach (var v in n.Inputs)
                if (v != input && !writer.ContainsKey(v))
                    throw new ArgumentException($"Node '{n.Name}' reads value '{v}', which no node writes and which is not the graph input '{input}'.", nameof(nodes));
        foreach (var output in outputs)
            if (output != input && !writer.ContainsKey(output))
                throw new ArgumentException($"The graph output '{output}' is written by no node and is not the graph input.", nameof(outputs));

        _nodes = TopologicalOrder(given, writer);

        // Value ids: 0 is the graph input, then each node's outputs in topological order.
        var id = new Dictionary<string, int>(StringComparer.Ordinal) { [input] = 0 };
        foreach (var n in _nodes)
            foreach (var o in n.Outputs) id[o] = id.Count;
        _input = 0;
        _outputs = [.. outputs.Select(o => id[o])];
        _writes = [.. _nodes.Select(n => n.Outputs.Select(o => id[o]).ToArray())];
        _reads = [.. _nodes.Select(n => n.Inputs.Select(v => id[v]).ToArray())];
        _uses = new int[id.Count];
        foreach (var r in _reads) foreach (int v in r) _uses[v]++;
        foreach (int v in _outputs) _uses[v]++;
        if (_uses[0] == 0) throw new ArgumentException($"No node reads the graph input '{input}'.", nameof(nodes));
        for (int i = 0; i < _nodes.Length; i++)
        {
            var unused = _writes[i].Where(v => _uses[v] == 0).ToList();
            if (unused.Count == _writes[i].Length || (unused.Count > 0 && _nodes[i].Layer is not MultiOutputLayer))
                throw new ArgumentException(
                    $"Value '{_nodes[i].Outputs[Array.IndexOf(_writes[i], unused[0])]}' (written by node '{_nodes[i].Name}') is neither read by a node nor a graph output ({string.Join(", ", outputs)}).", nameof(nodes));
        }
        _hasParameters = [.. _nodes.Select(n => n.Layer is not Frozen && n.Layer.AllParameters().Any())];
        _runsBackward = new bool[_nodes.Length];
        _needed = new bool[id.Count];
        _values = new Tensor?[id.Count];
        _grads = new Tensor?[id.Count];
        _gradBuffers = new Tensor?[id.Count];
        _gathered = [.. _reads.Select(r => new Tensor[r.Length])];
        _outputGrads = [.. _writes.Select(w => new Tensor?[w.Length])];
        _firstOnly = new Tensor?[_outputs.Length];
        Input = input;
        Outputs = [.. outputs];
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

    /// <summary>The name of the graph's input value.</summary>
    public string Input { get; }

    /// <summary>The graph outputs, in order; the first is what <see cref="Forward"/> returns.</summary>
    public IReadOnlyList<string> Outputs { get; }

    /// <summary>The first graph output.</summary>
    public string Output => Outputs[0];

    /// <summary>The nodes in the order forward runs them (topological).</summary>
    public IReadOnlyList<GraphNode> Nodes => _nodes;

    /// <summary>
    /// The graph cut at <paramref name="value"/>: the nodes it is computed from, with <paramref name="value"/> as the output.
    /// The new graph shares this one's layers (and weights); use one or the other.
    /// </summary>
    public Graph Until(string value)
    {
        ArgumentException.ThrowIfNullOrEmpty(value);
        var writer = new Dictionary<string, GraphNode>(StringComparer.Ordinal);
        foreach (var n in _nodes) foreach (var o in n.Outputs) writer[o] = n;
        if (value != Input && !writer.ContainsKey(value))
            throw new ArgumentException($"The graph has no value '{value}' (values: {string.Join(", ", writer.Keys.Take(40))}{(writer.Count > 40 ? ", …" : "")}).", nameof(value));
        var keep = new HashSet<string>(StringComparer.Ordinal) { value };
        for (int i = _nodes.Length - 1; i >= 0; i--)
            if (_nodes[i].Outputs.Any(keep.Contains))
                foreach (var v in _nodes[i].Inputs) keep.Add(v);
        return new Graph(Input, _nodes.Where(n => n.Outputs.Any(keep.Contains)).Select(n => new GraphNode(n.Name, n.Layer, n.Inputs, n.Outputs)), value);
    }

    /// <inheritdoc/>
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
                if (n.Layer is MultiOutputLayer mo)
                {
                    var ys = mo.OutputShapes(shapes[n.Inputs[0]]);
                    for (int k = 0; k < ys.Count; k++) shapes[n.Outputs[k]] = ys[k];
                }
                else
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

    /// <inheritdoc/>
    public override int[] OutputShape(int[] inputShape) => ValueShapes(inputShape)[Output];

    /// <summary>The shape of every graph output, in <see cref="Outputs"/> order.</summary>
    public IReadOnlyList<int[]> OutputShapes(int[] inputShape)
    {
        var shapes = ValueShapes(inputShape);
        return [.. Outputs.Select(o => shapes[o])];
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor x, bool training)
    {
        ArgumentNullException.ThrowIfNull(x);
        _x = x;
        _values[_input] = x;
        for (int i = 0; i < _nodes.Length; i++)
        {
            var reads = _reads[i];
            var layer = _nodes[i].Layer;
            try
            {
                if (layer is MultiOutputLayer mo)
                {
                    var ys = mo.ForwardMany(_values[reads[0]]!, training);
                    for (int k = 0; k < ys.Count; k++) _values[_writes[i][k]] = ys[k];
                }
                else if (layer is MultiInputLayer m)
                {
                    var ins = _gathered[i];
                    for (int k = 0; k < reads.Length; k++) ins[k] = _values[reads[k]]!;
                    _values[_writes[i][0]] = m.Forward(ins, training);
                }
                else _values[_writes[i][0]] = layer.Forward(_values[reads[0]]!, training);
            }
            catch (ArgumentException e) when (e.ParamName is "x" or "inputs" or "inputShapes")
            {
                throw new ArgumentException($"Graph node '{_nodes[i].Name}' ({layer}): {e.Message}", nameof(x), e);
            }
        }
        return _values[_outputs[0]]!;
    }

    /// <summary>Every graph output for <paramref name="x"/>, in <see cref="Outputs"/> order (valid until the next forward).</summary>
    public IReadOnlyList<Tensor> ForwardAll(Tensor x, bool training)
    {
        Forward(x, training);
        return [.. _outputs.Select(v => _values[v]!)];
    }

    /// <summary>dL/dX from the first output's gradient (the other outputs get none).</summary>
    public override Tensor Backward(Tensor dy)
    {
        ArgumentNullException.ThrowIfNull(dy);
        _firstOnly[0] = dy;
        return BackwardAll(_firstOnly);
    }

    /// <summary>
    /// dL/dX from dL/dy_k of each graph output of the last forward (null: that output does not reach the loss); parameter
    /// gradients accumulate as in <see cref="Backward"/>.
    /// </summary>
    public Tensor BackwardAll(IReadOnlyList<Tensor?> dys)
    {
        ArgumentNullException.ThrowIfNull(dys);
        if (dys.Count != _outputs.Length)
            throw new ArgumentException($"Graph.BackwardAll expects one gradient per output ({_outputs.Length}: {string.Join(", ", Outputs)}), null for none; got {dys.Count}.", nameof(dys));
        if (_x is null) throw BackwardBeforeForward();
        Array.Clear(_grads);
        for (int k = 0; k < dys.Count; k++)
            if (dys[k] is { } dy)
            {
                CheckSameShape(dy, _values[_outputs[k]], "Graph");
                Accumulate(_outputs[k], dy);
            }
        for (int i = _nodes.Length - 1; i >= 0; i--)
        {
            if (!_runsBackward[i]) continue;
            var node = _nodes[i];
            var reads = _reads[i];
            Tensor dx;
            if (node.Layer is MultiOutputLayer mo)
            {
                var gs = _outputGrads[i];
                bool any = false;
                for (int k = 0; k < gs.Length; k++) any |= (gs[k] = _grads[_writes[i][k]]) is not null;
                if (!any) continue;  // nothing downstream reaches the loss
                dx = mo.BackwardMany(gs);
            }
            else
            {
                if (_grads[_writes[i][0]] is not { } g) continue;
                if (node.Layer is MultiInputLayer m)
                {
                    var dxs = m.BackwardMany(g);
                    for (int k = 0; k < reads.Length; k++) Accumulate(reads[k], dxs[k]);
                    continue;
                }
                dx = node.Layer.Backward(g);
            }
            Accumulate(reads[0], dx);
        }
        if (_grads[_input] is { } result) return result;
        // The input gradient was not asked for (ComputeInputGradient is false), or no output reaches it: a zero tensor stands in.
        var zero = Tensor.Reuse(ref _zeroDx, _x.ShapeArray);
        zero.Clear();
        return zero;
    }

    /// <summary>
    /// A value's gradient is needed when it leads back to the graph input (and the graph's own dL/dX is asked for) or to a
    /// node with parameters that train; a node runs backward only when it has such parameters or one of its inputs is needed,
    /// and computes its dL/dX only in the second case. Nodes before a graph's trainable part (frozen blocks, parameter-free
    /// layers over the input) thus cost nothing in backward.
    /// </summary>
    protected override void OnComputeInputGradientChanged()
    {
        if (_needed is null) return;  // the base constructor's call; the graph's own constructor calls again
        _needed[_input] = ComputeInputGradient;
        for (int i = 0; i < _nodes.Length; i++)
        {
            bool readsNeeded = false;
            foreach (int v in _reads[i]) readsNeeded |= _needed[v];
            _nodes[i].Layer.ComputeInputGradient = readsNeeded;
            _runsBackward[i] = readsNeeded || _hasParameters[i];
            foreach (int v in _writes[i]) _needed[v] = _runsBackward[i];
        }
    }

    /// <summary>Adds one use's contribution to dL/dv; a value used once takes the contribution as it is.</summary>
    private void Accumulate(int v, Tensor d)
    {
        if (!_needed[v]) return;
        if (_uses[v] == 1) { _grads[v] = d; return; }
        if (_grads[v] is not { } sum)
        {
            sum = Tensor.Reuse(ref _gradBuffers[v], d.ShapeArray);
            d.Span.CopyTo(sum.Span);
            _grads[v] = sum;
        }
        else System.Numerics.Tensors.TensorPrimitives.Add(sum.Span, d.Span, sum.Span);
    }

    /// <inheritdoc/>
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

    /// <inheritdoc/>
    public override JsonObject ToSpec()
    {
        var spec = new JsonObject { ["type"] = TypeName, ["input"] = Input };
        if (Outputs.Count == 1) spec["output"] = Output;
        else spec["outputs"] = Names(Outputs);
        spec["nodes"] = new JsonArray([.. _nodes.Select(n =>
        {
            var o = new JsonObject { ["name"] = n.Name, ["inputs"] = Names(n.Inputs) };
            if (n.Outputs.Count == 1) o["output"] = n.Output;
            else o["outputs"] = Names(n.Outputs);
            o["layer"] = n.Layer.ToSpec();
            return (JsonNode)o;
        })]);
        return spec;
    }

    private static JsonArray Names(IEnumerable<string> names) => new([.. names.Select(v => (JsonNode)JsonValue.Create(v))]);

    private static string[] OneOrMany(JsonObject o, string one, string many) =>
        o.ContainsKey(many) ? Spec.Strings(o, many) : [Spec.String(o, one)];

    /// <summary>Rebuilds a <see cref="Graph"/> from <paramref name="spec"/>, the JSON its <see cref="Layer.ToSpec"/> writes (<see cref="LayerFactory"/> calls this).</summary>
    public static Graph FromSpec(JsonObject spec) =>
        new(Spec.String(spec, "input"), Spec.Objects(spec, "nodes").Select(ReadNode), OneOrMany(spec, "output", "outputs"));

    private static GraphNode ReadNode(JsonObject o) =>
        new(Spec.String(o, "name"), LayerFactory.FromSpec(Spec.Object(o, "layer")), Spec.Strings(o, "inputs"), OneOrMany(o, "output", "outputs"));

    /// <inheritdoc/>
    public override string ToString() => Outputs.Count == 1 ? $"Graph({_nodes.Length} nodes)" : $"Graph({_nodes.Length} nodes, {Outputs.Count} outputs)";
}
