using System.Text.Json.Nodes;
using MLConv.Training.Tensors;

namespace MLConv.Training.Layers;

/// <summary>
/// y = x for x &gt; 0, else a·x, with a learnable slope a: one shared by all values (any input shape), or one per channel
/// of an [N, C, H, W] input (ONNX PRelu with slope [C, 1, 1]). Backward: dx = dy where x &gt; 0, else a·dy;
/// da_c += Σ dy·x over the values of channel c with x ≤ 0. The slopes start at <see cref="Init"/> (PyTorch: 0.25) and take
/// no weight decay (decay would pull them to 0, towards a plain ReLU).
/// </summary>
public sealed class PReLU : Layer
{
    private readonly Parameter _weight;
    private Tensor? _x, _y, _dx;

    /// <summary>A PReLU with <paramref name="numParameters"/> slopes, each starting at <paramref name="init"/>.</summary>
    /// <param name="numParameters">1 for one shared slope, or C for one per channel of [N, C, H, W].</param>
    /// <param name="init">The initial slope (finite; PyTorch: 0.25).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="numParameters"/> is below 1 or <paramref name="init"/> is not finite.</exception>
    public PReLU(int numParameters = 1, double init = 0.25)
    {
        if (numParameters < 1) throw new ArgumentOutOfRangeException(nameof(numParameters), numParameters, "numParameters must be >= 1.");
        if (!double.IsFinite(init)) throw new ArgumentOutOfRangeException(nameof(init), init, "init must be finite.");
        NumParameters = numParameters;
        Init = init;
        _weight = new Parameter("weight", new Tensor(numParameters)) { Decay = false };
        _weight.Value.Fill((float)init);
    }

    /// <summary>1 (one shared slope) or the channel count.</summary>
    public int NumParameters { get; }
    /// <summary>The initial slope (also what <see cref="Reset"/> restores).</summary>
    public double Init { get; }
    /// <summary>The slopes a, [numParameters] ("weight"; no weight decay).</summary>
    public Parameter Weight => _weight;

    /// <inheritdoc/>
    public override IReadOnlyList<Parameter> Parameters => [_weight];

    /// <inheritdoc/>
    public override void Reset(Random rng) => _weight.Value.Fill((float)Init);

    /// <inheritdoc/>
    public override int[] OutputShape(int[] inputShape)
    {
        ArgumentNullException.ThrowIfNull(inputShape);
        if (NumParameters > 1)
        {
            CheckRank(inputShape, 4, "PReLU with a slope per channel");
            if (inputShape[1] != NumParameters)
                throw new ArgumentException($"PReLU({NumParameters}) expects {NumParameters} channels; got [{string.Join(", ", inputShape)}].", nameof(inputShape));
        }
        return (int[])inputShape.Clone();
    }

    /// <summary>Values per slope run: the whole tensor for a shared slope, else an H·W plane per (n, c).</summary>
    private int Plane(Tensor x) => NumParameters == 1 ? x.Length : x.Shape[2] * x.Shape[3];

    /// <inheritdoc/>
    public override Tensor Forward(Tensor x, bool training)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (NumParameters > 1)
        {
            CheckRank(x, 4, "PReLU with a slope per channel");
            if (x.C != NumParameters) throw new ArgumentException($"PReLU({NumParameters}) expects {NumParameters} channels; got [{x.ShapeString}].", nameof(x));
        }
        var y = Tensor.Reuse(ref _y, x.ShapeArray);
        var xs = x.Span;
        var ys = y.Span;
        var a = _weight.Value.Span;
        int plane = Plane(x);
        for (int start = 0, run = 0; start < xs.Length; start += plane, run++)
        {
            float slope = a[run % NumParameters];
            for (int i = start; i < start + plane; i++) ys[i] = xs[i] > 0f ? xs[i] : slope * xs[i];
        }
        _x = x;
        return y;
    }

    /// <inheritdoc/>
    public override Tensor Backward(Tensor dy)
    {
        CheckSameShape(dy, _y, "PReLU");
        var dx = Tensor.Reuse(ref _dx, dy.ShapeArray);
        var xs = _x!.Span;
        var ds = dy.Span;
        var dxs = dx.Span;
        var a = _weight.Value.Span;
        var da = _weight.Grad.Span;
        int plane = Plane(_x);
        for (int start = 0, run = 0; start < xs.Length; start += plane, run++)
        {
            int c = run % NumParameters;
            float slope = a[c];
            double sum = 0;
            for (int i = start; i < start + plane; i++)
            {
                if (xs[i] > 0f) dxs[i] = ds[i];
                else
                {
                    dxs[i] = slope * ds[i];
                    sum += ds[i] * xs[i];
                }
            }
            da[c] += (float)sum;
        }
        return dx;
    }

    /// <inheritdoc/>
    public override JsonObject ToSpec() => new() { ["type"] = TypeName, ["numParameters"] = NumParameters, ["init"] = Init };
    /// <summary>Rebuilds a <see cref="PReLU"/> from <paramref name="spec"/>, the JSON its <see cref="Layer.ToSpec"/> writes (<see cref="LayerFactory"/> calls this).</summary>
    public static PReLU FromSpec(JsonObject spec) => new(Spec.Int(spec, "numParameters"), Spec.Double(spec, "init"));
    /// <inheritdoc/>
    public override string ToString() => $"PReLU(numParameters={NumParameters})";
}
