using System.Text.Json.Nodes;
using MLConv.Training.Tensors;

namespace MLConv.Training.Layers;

/// <summary>Layers applied in order; backward runs them in reverse.</summary>
public sealed class Sequential : Layer
{
    private readonly List<Layer> _layers;

    /// <summary>A chain of <paramref name="layers"/> (the list is copied), named "0", "1", … in parameter paths.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="layers"/> is null.</exception>
    /// <exception cref="ArgumentException">A layer is null.</exception>
    public Sequential(params IEnumerable<Layer> layers)
    {
        ArgumentNullException.ThrowIfNull(layers);
        _layers = [.. layers];
        for (int i = 0; i < _layers.Count; i++)
            if (_layers[i] is null) throw new ArgumentException($"Layer {i} is null.", nameof(layers));
        OnComputeInputGradientChanged();
    }

    /// <summary>The layers, in order.</summary>
    public IReadOnlyList<Layer> Layers => _layers;
    /// <summary>The number of layers.</summary>
    public int Count => _layers.Count;
    /// <summary>The layer at index <paramref name="i"/>.</summary>
    public Layer this[int i] => _layers[i];

    /// <inheritdoc/>
    public override IReadOnlyList<(string Name, Layer Layer)> Children =>
        [.. _layers.Select((l, i) => (i.ToString(System.Globalization.CultureInfo.InvariantCulture), l))];

    /// <inheritdoc/>
    public override int[] OutputShape(int[] inputShape)
    {
        var s = inputShape;
        for (int i = 0; i < _layers.Count; i++)
        {
            try { s = _layers[i].OutputShape(s); }
            catch (ArgumentException e) when (e.ParamName is "x" or "inputShape")
            {
                throw new ArgumentException($"Layer {i} ({_layers[i]}): {e.Message}", "x", e);
            }
        }
        return s;
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor x, bool training)
    {
        foreach (var l in _layers) x = l.Forward(x, training);
        return x;
    }

    /// <inheritdoc/>
    public override Tensor Backward(Tensor dy)
    {
        for (int i = _layers.Count - 1; i >= 0; i--) dy = _layers[i].Backward(dy);
        return dy;
    }

    /// <summary>Only the first layer reads the input; every later one must pass dL/dX back to its predecessor.</summary>
    protected override void OnComputeInputGradientChanged()
    {
        for (int i = 0; i < _layers.Count; i++) _layers[i].ComputeInputGradient = i > 0 || ComputeInputGradient;
    }

    /// <inheritdoc/>
    public override long MultiplyAccumulates(int[] inputShape)
    {
        long total = 0;
        var s = inputShape;
        foreach (var l in _layers) { total += l.MultiplyAccumulates(s); s = l.OutputShape(s); }
        return total;
    }

    /// <inheritdoc/>
    public override JsonObject ToSpec() => new()
    {
        ["type"] = TypeName,
        ["layers"] = new JsonArray([.. _layers.Select(l => (JsonNode)l.ToSpec())]),
    };

    /// <summary>Rebuilds a <see cref="Sequential"/> from <paramref name="spec"/>, the JSON its <see cref="Layer.ToSpec"/> writes (<see cref="LayerFactory"/> calls this).</summary>
    public static Sequential FromSpec(JsonObject spec) => new(Spec.Objects(spec, "layers").Select(LayerFactory.FromSpec));

    /// <inheritdoc/>
    public override string ToString() => $"Sequential({_layers.Count} layers)";
}
