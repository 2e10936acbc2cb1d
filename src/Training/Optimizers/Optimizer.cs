using MLConv.Training.Layers;
using MLConv.Training.Tensors;

namespace MLConv.Training.Optimizers;

/// <summary>
/// Updates parameters from their accumulated gradients. <see cref="Step"/> runs the loop every optimizer shares —
/// per parameter, the gradient with L2 weight decay added (g = ∇ + λw, as in PyTorch) — and each optimizer states its
/// update rule for one parameter in <see cref="Update"/>.
/// </summary>
public abstract class Optimizer
{
    /// <summary>Checks and stores the shared hyper-parameters.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="parameters"/> is null.</exception>
    /// <exception cref="ArgumentException">No parameters.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="learningRate"/> is not finite and &gt; 0, or <paramref name="weightDecay"/> is negative.</exception>
    protected Optimizer(IEnumerable<Parameter> parameters, double learningRate, double weightDecay)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        Params = [.. parameters];
        if (Params.Count == 0) throw new ArgumentException("The optimizer got no parameters.", nameof(parameters));
        if (!(learningRate > 0) || double.IsInfinity(learningRate)) throw new ArgumentOutOfRangeException(nameof(learningRate), learningRate, "learningRate must be a finite value > 0.");
        if (!(weightDecay >= 0)) throw new ArgumentOutOfRangeException(nameof(weightDecay), weightDecay, "weightDecay must be >= 0.");
        LearningRate = learningRate;
        WeightDecay = weightDecay;
    }

    /// <summary>The parameters updated, in the order given (the order of <see cref="State"/>).</summary>
    protected IReadOnlyList<Parameter> Params { get; }

    /// <summary>Current learning rate (schedules set it before each step).</summary>
    public double LearningRate { get; set; }
    /// <summary>L2 weight decay λ.</summary>
    public double WeightDecay { get; }

    /// <summary>Steps taken.</summary>
    public long StepCount { get; protected set; }

    private float[] _g = [];

    /// <summary>One update of every parameter from its gradient; counts the step first (<see cref="StepCount"/> is t in the rule).</summary>
    public void Step()
    {
        StepCount++;
        BeginStep();
        for (int i = 0; i < Params.Count; i++)
        {
            var p = Params[i];
            int n = p.Value.Length;
            if (_g.Length < n) _g = new float[n];
            var g = _g.AsSpan(0, n);
            DecayedGradient(p, g);
            Update(i, g, p.Value.Span);
        }
    }

    /// <summary>What a step computes once for all parameters (bias corrections, the rate as float).</summary>
    protected virtual void BeginStep() { }

    /// <summary>Updates the weights <paramref name="w"/> of parameter <paramref name="index"/> from its decayed gradient <paramref name="g"/> (scratch: may be overwritten).</summary>
    protected abstract void Update(int index, Span<float> g, Span<float> w);

    /// <summary>Clears every parameter's gradient (before the next backward accumulates into it).</summary>
    public void ZeroGrad()
    {
        foreach (var p in Params) p.Grad.Clear();
    }

    /// <summary>Internal state (moments, velocities) in parameter order, for checkpoints.</summary>
    public abstract IReadOnlyList<Tensor> State { get; }

    /// <summary>Restores the state written by <see cref="State"/> and the step count.</summary>
    public void LoadState(IReadOnlyList<float[]> state, long stepCount)
    {
        var mine = State;
        if (state.Count != mine.Count) throw new InvalidDataException($"Optimizer state has {state.Count} tensors; expected {mine.Count}.");
        for (int i = 0; i < mine.Count; i++)
        {
            if (state[i].Length != mine[i].Length) throw new InvalidDataException($"Optimizer state tensor {i} has {state[i].Length} values; expected {mine[i].Length}.");
            state[i].CopyTo(mine[i].Span);
        }
        StepCount = stepCount;
    }

    /// <summary>g + λ·w for parameters that decay, else g, into <paramref name="dst"/>.</summary>
    private void DecayedGradient(Parameter p, Span<float> dst)
    {
        if (WeightDecay > 0 && p.Decay)
            System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(p.Value.Span, (float)WeightDecay, p.Grad.Span, dst);
        else p.Grad.Span.CopyTo(dst);
    }
}
