using MLConv.Training.Layers;
using MLConv.Training.Tensors;

namespace MLConv.Training.Models;

/// <summary>
/// Starting from a pretrained network: cut it at its features, put a new classifier head on top, freeze what should not
/// train, and compute a frozen base's features once so that only the head costs per epoch.
/// </summary>
public static class TransferLearning
{
    /// <summary>
    /// The part of <paramref name="root"/> that computes features: cut at the graph value <paramref name="cutAt"/> when
    /// given, else everything before the trailing classifier layers (Flatten, Linear, Dropout, Softmax, Reshape, and a
    /// ReLU between Linears) — for a CNN the pooled features. A root that ends in [N, C, H, W] is kept whole.
    /// </summary>
    public static Sequential FeatureExtractor(Sequential root, string? cutAt = null)
    {
        ArgumentNullException.ThrowIfNull(root);
        if (root.Count == 1 && root[0] is Graph graph)
            return new Sequential(graph.Until(cutAt ?? GraphFeatures(graph)));
        if (cutAt is not null)
            throw new ArgumentException($"cutAt names a graph value ('{cutAt}'); this network is a chain of {root.Count} layers, not a graph.", nameof(cutAt));
        int end = root.Count;
        while (end > 0 && IsHead(root[end - 1], root, end - 1)) end--;
        if (end == 0) throw new ArgumentException("The network holds only classifier layers; there are no features to keep.", nameof(root));
        return new Sequential(Enumerable.Range(0, end).Select(i => root[i]));
    }

    private static bool IsHead(Layer layer, Sequential s, int index) => layer switch
    {
        Flatten or Linear or Dropout or Softmax or Reshape => true,
        ReLU => index > 0 && s.Layers.Take(index).Any(l => l is Linear),
        _ => false,
    };

    /// <summary>Walks back from the output through single-input classifier nodes.</summary>
    private static string GraphFeatures(Graph g)
    {
        var writer = g.Nodes.ToDictionary(n => n.Output, StringComparer.Ordinal);
        string v = g.Output;
        while (writer.TryGetValue(v, out var n) && n.Inputs.Count == 1 && n.Layer is Flatten or Linear or Dropout or Softmax or Reshape or ReLU)
            v = n.Inputs[0];
        if (v == g.Input) throw new ArgumentException("The graph holds only classifier layers; there are no features to keep.", nameof(g));
        return v;
    }

    /// <summary>
    /// <paramref name="features"/> with everything before <paramref name="before"/> frozen (<see cref="Frozen"/>: inference
    /// mode, parameters not trained), the rest trainable. In a graph <paramref name="before"/> names a node (the nodes its
    /// inputs are computed from freeze) or a value (it and the nodes it is computed from freeze); in a chain it is a layer's
    /// index ("3": layers 0–2 freeze). When the trainable part reads one value of the frozen part (a cut between two
    /// residual blocks), the result is [Frozen(the part before), the rest]: the frozen part's outputs can then be computed
    /// once (<see cref="ComputeFeatures"/>). Otherwise the frozen nodes' layers are wrapped in place. The result shares
    /// the layers (and weights) of <paramref name="features"/>.
    /// </summary>
    public static Sequential FreezeBefore(Sequential features, string before)
    {
        ArgumentNullException.ThrowIfNull(features);
        ArgumentException.ThrowIfNullOrWhiteSpace(before);
        if (features.Count == 1 && features[0] is Graph g)
        {
            var node = g.Nodes.FirstOrDefault(n => n.Name == before);
            IEnumerable<string> roots = node is not null ? node.Inputs
                : before == g.Input || g.Nodes.Any(n => n.Outputs.Contains(before)) ? [before]
                : throw new ArgumentException($"The pretrained graph has no node or value '{before}' (nodes: {string.Join(", ", g.Nodes.Select(n => n.Name).Take(40))}{(g.Nodes.Count > 40 ? ", …" : "")}).", nameof(before));
            var frozen = new HashSet<string>(StringComparer.Ordinal);
            var values = new HashSet<string>(roots, StringComparer.Ordinal);
            for (int i = g.Nodes.Count - 1; i >= 0; i--)
                if (g.Nodes[i].Outputs.Any(values.Contains))
                {
                    frozen.Add(g.Nodes[i].Name);
                    values.UnionWith(g.Nodes[i].Inputs);
                }
            return FreezeNodes(g, frozen);
        }
        if (!int.TryParse(before, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int k) || k > features.Count)
            throw new ArgumentException($"In a chain of {features.Count} layers, '{before}' must be a layer index from 0 to {features.Count}.", nameof(before));
        return FreezeFirst(features, k);
    }

    /// <summary>
    /// <paramref name="features"/> with only its last <paramref name="trainable"/> layers that have parameters trainable
    /// (in forward order: convolutions, batch norms, linears, ... each count once; in a chain, each top-level layer with
    /// parameters counts once) and everything that does not depend on them frozen, as <see cref="FreezeBefore"/> does.
    /// 0 freezes everything.
    /// </summary>
    public static Sequential FreezeAllButLast(Sequential features, int trainable)
    {
        ArgumentNullException.ThrowIfNull(features);
        ArgumentOutOfRangeException.ThrowIfNegative(trainable);
        if (features.Count == 1 && features[0] is Graph g)
        {
            var withParameters = g.Nodes.Where(n => n.Layer.AllParameters().Any()).ToList();
            // The nodes downstream of a trainable one (or trainable themselves) train; the others freeze.
            var downstream = new HashSet<string>(withParameters.Skip(Math.Max(0, withParameters.Count - trainable)).SelectMany(n => n.Outputs), StringComparer.Ordinal);
            var frozen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var n in g.Nodes)
                if (n.Outputs.Any(downstream.Contains) || n.Inputs.Any(downstream.Contains)) downstream.UnionWith(n.Outputs);
                else frozen.Add(n.Name);
            return FreezeNodes(g, frozen);
        }
        var indices = Enumerable.Range(0, features.Count).Where(i => features[i].AllParameters().Any()).ToList();
        int first = trainable == 0 ? features.Count : trainable >= indices.Count ? 0 : indices[^trainable];
        return FreezeFirst(features, first);
    }

    /// <summary>
    /// The graph with the named nodes (closed under "computed from") frozen: split into [Frozen(before), after] when the
    /// rest reads one value of the frozen part, else with the frozen nodes' layers that hold parameters wrapped in place.
    /// </summary>
    private static Sequential FreezeNodes(Graph g, HashSet<string> frozen)
    {
        if (frozen.Count == 0) return new Sequential(g);
        var rest = g.Nodes.Where(n => !frozen.Contains(n.Name)).ToList();
        if (rest.Count == 0) return new Sequential(new Frozen(g));
        var frozenValues = g.Nodes.Where(n => frozen.Contains(n.Name)).SelectMany(n => n.Outputs).Append(g.Input).ToHashSet(StringComparer.Ordinal);
        var boundary = rest.SelectMany(n => n.Inputs).Concat(g.Outputs).Where(frozenValues.Contains).Distinct(StringComparer.Ordinal).ToList();
        if (boundary is [var cut] && cut != g.Input && !g.Outputs.Contains(cut))
            return new Sequential(new Frozen(g.Until(cut)), new Graph(cut, rest.Select(n => new GraphNode(n.Name, n.Layer, n.Inputs, n.Outputs)), g.Outputs));
        return new(new Graph(g.Input, g.Nodes.Select(n =>
            frozen.Contains(n.Name) && n.Layer is not (MultiInputLayer or MultiOutputLayer or Frozen) && n.Layer.AllParameters().Any()
                ? new GraphNode(n.Name, new Frozen(n.Layer), n.Inputs, n.Outputs)
                : new GraphNode(n.Name, n.Layer, n.Inputs, n.Outputs)), g.Outputs));
    }

    private static Sequential FreezeFirst(Sequential chain, int count) => count == 0 ? new Sequential(chain.Layers)
        : new Sequential([new Frozen(new Sequential(chain.Layers.Take(count))), .. chain.Layers.Skip(count)]);

    /// <summary>
    /// A classifier on <paramref name="features"/>: [GlobalAvgPool2d when the features are spatial] → Flatten →
    /// Dropout(<paramref name="dropout"/>) → Linear(features, classes), the head drawn from <paramref name="seed"/>. With
    /// <paramref name="freeze"/> the features are wrapped in <see cref="Frozen"/> (inference mode, not trained).
    /// </summary>
    public static Network Classifier(Sequential features, int channels, int height, int width, IReadOnlyList<string> classNames,
        Normalization? normalization = null, bool freeze = true, double dropout = 0.2, int seed = 0, string architecture = "pretrained")
    {
        ArgumentNullException.ThrowIfNull(features);
        ArgumentNullException.ThrowIfNull(classNames);
        if (classNames.Count < 2) throw new ArgumentException($"A classifier needs at least 2 classes; got {classNames.Count}.", nameof(classNames));
        var head = Head(FeatureShape(features, channels, height, width), classNames.Count, dropout, seed);
        Layer body = freeze ? new Frozen(features) : features;
        return new Network(new Sequential([body, .. head.Layers]), channels, height, width, classNames, normalization) { Architecture = architecture };
    }

    /// <summary>The features' shape per sample for an input (C, H, W); throws naming the input size when the base cannot take it.</summary>
    public static int[] FeatureShape(Layer features, int channels, int height, int width)
    {
        try
        {
            return [.. features.OutputShape([1, channels, height, width]).Skip(1)];
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"The pretrained network cannot take {channels}x{height}x{width} images: {e.Message}", nameof(features), e);
        }
    }

    /// <summary>The new head for features of shape <paramref name="featureShape"/> (per sample).</summary>
    public static Sequential Head(int[] featureShape, int numClasses, double dropout = 0.2, int seed = 0)
    {
        ArgumentNullException.ThrowIfNull(featureShape);
        List<Layer> layers = [];
        if (featureShape.Length == 3 && featureShape[1] * featureShape[2] > 1) layers.Add(new GlobalAvgPool2d());
        int f = featureShape.Length == 3 ? featureShape[0] : featureShape.Aggregate(1, (a, d) => checked(a * d));
        if (featureShape.Length != 1) layers.Add(new Flatten());
        if (dropout > 0) layers.Add(new Dropout(dropout));
        layers.Add(new Linear(f, numClasses));
        var head = new Sequential(layers);
        head.Reset(new Random(seed));
        return head;
    }

    /// <summary>
    /// <paramref name="features"/> (run in inference mode) of every image in <paramref name="images"/> (raw pixels,
    /// normalised here by <paramref name="normalization"/>), batch by batch: what a frozen base gives, computed once.
    /// </summary>
    public static Tensor ComputeFeatures(Layer features, Tensor images, Normalization normalization, int batchSize = 32,
        IProgress<(int Done, int Total)>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(features);
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(normalization);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        var shape = FeatureShape(features, images.C, images.H, images.W);
        var result = new Tensor([images.N, .. shape]);
        int sample = images.C * images.H * images.W, per = result.Length / Math.Max(1, images.N);
        Tensor? batch = null;
        for (int start = 0; start < images.N; start += batchSize)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int n = Math.Min(batchSize, images.N - start);
            var x = Tensor.Reuse(ref batch, n, images.C, images.H, images.W);
            images.Data.AsSpan(start * sample, n * sample).CopyTo(x.Span);
            normalization.Apply(x);
            features.Forward(x, training: false).Span.CopyTo(result.Data.AsSpan(start * per, n * per));
            progress?.Report((start + n, images.N));
        }
        return result;
    }
}
