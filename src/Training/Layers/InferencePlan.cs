namespace MLConv.Training.Layers;

/// <summary>
/// An inference-mode rewrite of a layer tree that leaves the tree as it is: every <see cref="Conv2d"/> followed by a
/// <see cref="BatchNorm2d"/> (its only reader) gets the batch norm folded into a copy of its weights and bias,
///   W'[co] = s[co]·W[co],  b'[co] = s[co]·(b[co] − μ[co]) + β[co],  s = γ/√(σ² + ε)   (running statistics),
/// and a <see cref="ReLU"/> that follows (the only reader again) is applied to the convolution's output while it is
/// still in cache. In inference-mode forwards (<c>training: false</c>) the fused convolution computes the whole group
/// and the batch norm and ReLU pass their input through; training-mode forwards are untouched. A residual join — a
/// <see cref="Sum"/> in a graph, a <see cref="Residual"/> in a chain — followed by a ReLU (again its only reader) computes
/// y = max(a + b, 0) in one pass, the ReLU passing its input through.
/// Patterns are found in <see cref="Sequential"/> chains (consecutive layers) and in <see cref="Graph"/> DAGs (a value
/// read by exactly one node and not the graph's output), and inside every composite layer.
/// The folded weights are a snapshot: a training-mode forward of a fused convolution drops its fusion (so the weights an
/// optimizer changes next are never shadowed), and <see cref="Dispose"/> drops them all. Prepare again after changing
/// weights or statistics in any other way. After a fused forward the skipped layers hold nothing for backward.
/// </summary>
public sealed class InferencePlan : IDisposable
{
    private readonly HashSet<Conv2d> _prepared = [];
    private readonly List<(IReLUJoin Join, ReLU Relu)> _joins = [];

    private InferencePlan() { }

    /// <summary>Convolutions prepared (every one under the root: GEMM weights packed once).</summary>
    public int PreparedConvolutions => _prepared.Count;
    /// <summary>Convolutions that absorbed a batch norm and/or a ReLU.</summary>
    public int FusedConvolutions { get; private set; }
    /// <summary>Batch norms folded into the convolution before them.</summary>
    public int FoldedBatchNorms { get; private set; }
    /// <summary>ReLUs applied inside the convolution before them.</summary>
    public int FusedReLUs { get; private set; }
    /// <summary>Residual joins (<see cref="Sum"/> in a graph, <see cref="Residual"/> in a chain) that apply the ReLU after them in the same pass.</summary>
    public int FusedAddReLUs => _joins.Count;

    /// <summary>Finds and fuses every Conv2d → BatchNorm2d → ReLU (either of the last two optional) group under <paramref name="root"/>.</summary>
    public static InferencePlan Prepare(Layer root)
    {
        ArgumentNullException.ThrowIfNull(root);
        var plan = new InferencePlan();
        plan.Visit(root);
        return plan;
    }

    private void Visit(Layer layer)
    {
        if (layer is Sequential seq)
        {
            var ls = seq.Layers;
            for (int i = 0; i < ls.Count; i++)
                if (ls[i] is Conv2d conv)
                {
                    var bn = i + 1 < ls.Count ? ls[i + 1] as BatchNorm2d : null;
                    if (bn is not null && bn.NumFeatures != conv.OutChannels) bn = null;
                    int next = i + 1 + (bn is null ? 0 : 1);
                    var relu = next < ls.Count ? ls[next] as ReLU : null;
                    Fuse(conv, bn, relu);
                }
                else if (ls[i] is Residual res && i + 1 < ls.Count && ls[i + 1] is ReLU after) FuseAdd(res, after);
        }
        else if (layer is Graph graph)
        {
            var readers = new Dictionary<string, List<GraphNode>>(StringComparer.Ordinal);
            foreach (var node in graph.Nodes)
                foreach (var input in node.Inputs)
                {
                    if (!readers.TryGetValue(input, out var list)) readers[input] = list = [];
                    list.Add(node);
                }
            GraphNode? OnlyReader(string value) =>
                !graph.Outputs.Contains(value) && readers.TryGetValue(value, out var list) && list.Count == 1 && list[0].Inputs.Count == 1 ? list[0] : null;
            foreach (var node in graph.Nodes)
                if (node.Layer is Conv2d conv)
                {
                    var next = OnlyReader(node.Output);
                    var bn = next?.Layer is BatchNorm2d b && b.NumFeatures == conv.OutChannels ? b : null;
                    if (bn is not null) next = OnlyReader(next!.Output);
                    Fuse(conv, bn, next?.Layer as ReLU);
                }
                else if (node.Layer is Sum sum && OnlyReader(node.Output)?.Layer is ReLU after) FuseAdd(sum, after);
        }
        else if (layer is Conv2d lone) Fuse(lone, null, null);   // no pattern: weights packed once all the same
        foreach (var (_, child) in layer.Children) Visit(child);
    }

    private void Fuse(Conv2d conv, BatchNorm2d? bn, ReLU? relu)
    {
        if (_prepared.Contains(conv)) return;
        conv.FuseForInference(bn, relu);
        if (bn is not null) bn.FoldedInto = conv;
        if (relu is not null) relu.FusedInto = conv;
        _prepared.Add(conv);
        if (bn is not null || relu is not null) FusedConvolutions++;
        if (bn is not null) FoldedBatchNorms++;
        if (relu is not null) FusedReLUs++;
    }

    /// <summary>A residual join (<see cref="Sum"/> or <see cref="Residual"/>) that applies the ReLU after it in the same pass.</summary>
    private void FuseAdd(IReLUJoin join, ReLU relu)
    {
        if (relu.FusedInto is not null && !ReferenceEquals(relu.FusedInto, join)) return;
        if (join.FusedReLU is not null) return;
        join.FusedReLU = relu;
        relu.FusedInto = join;
        _joins.Add((join, relu));
    }

    /// <summary>Drops every fusion: inference runs layer by layer again.</summary>
    public void Dispose()
    {
        foreach (var conv in _prepared) conv.ClearInferenceFusion();
        _prepared.Clear();
        foreach (var (join, relu) in _joins)
        {
            join.FusedReLU = null;
            relu.FusedInto = null;
        }
        _joins.Clear();
    }

    /// <summary>The counts on one line: convolutions prepared and fused, batch norms folded, ReLUs fused, add + ReLU joins.</summary>
    public override string ToString() => $"{PreparedConvolutions} convolutions prepared, {FusedConvolutions} fused: {FoldedBatchNorms} batch norms folded, {FusedReLUs} ReLUs; {FusedAddReLUs} add + ReLU";
}

/// <summary>A layer that, under an <see cref="InferencePlan"/>, computes the layer after it too (a folded batch norm, a fused ReLU), which then passes its input through.</summary>
internal interface IAbsorbsNext
{
    /// <summary>True when <paramref name="layer"/> is applied by this one in inference-mode forwards.</summary>
    bool Absorbs(Layer layer);
}

/// <summary>A residual join (<see cref="Sum"/>, <see cref="Residual"/>) that applies the ReLU after it: y = max(Σ, 0) in one pass.</summary>
internal interface IReLUJoin : IAbsorbsNext
{
    /// <summary>The fused ReLU, set and cleared by the plan.</summary>
    ReLU? FusedReLU { get; set; }

    bool IAbsorbsNext.Absorbs(Layer layer) => FusedReLU is { } relu && ReferenceEquals(relu, layer);
}
