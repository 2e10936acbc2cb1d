using MLConv.Training.Layers;
using MLConv.Training.Tensors;

namespace MLConv.Training.Optimizers;

/// <summary>
/// SGD with momentum, PyTorch's formulation: g = ∇ + λw; v ← μv + g; step = g + μv (Nesterov) or v; w ← w − lr·step.
/// </summary>
public sealed class Sgd : Optimizer
{
    private readonly Tensor[] _velocity;
    private float _lr, _mu;

    /// <summary>An SGD optimizer over <paramref name="parameters"/>, velocities zero.</summary>
    /// <param name="parameters">The parameters to update (copied into a list; at least one).</param>
    /// <param name="lr">Learning rate (finite, &gt; 0).</param>
    /// <param name="momentum">μ in [0, 1); 0 for plain SGD.</param>
    /// <param name="weightDecay">L2 weight decay λ (≥ 0), added to the gradient of parameters with <see cref="Parameter.Decay"/>.</param>
    /// <param name="nesterov">Nesterov momentum (needs μ &gt; 0).</param>
    /// <exception cref="ArgumentNullException"><paramref name="parameters"/> is null.</exception>
    /// <exception cref="ArgumentException">No parameters, or Nesterov without momentum.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A hyper-parameter is out of its range.</exception>
    public Sgd(IEnumerable<Parameter> parameters, double lr = 0.01, double momentum = 0, double weightDecay = 0, bool nesterov = false)
        : base(parameters, lr, weightDecay)
    {
        if (!(momentum >= 0 && momentum < 1)) throw new ArgumentOutOfRangeException(nameof(momentum), momentum, "momentum must be in [0, 1).");
        if (nesterov && momentum == 0) throw new ArgumentException("nesterov requires momentum > 0.", nameof(nesterov));
        Momentum = momentum;
        Nesterov = nesterov;
        _velocity = [.. Params.Select(p => new Tensor(p.Value.ShapeArray))];
    }

    /// <summary>μ, the momentum.</summary>
    public double Momentum { get; }
    /// <summary>True for Nesterov momentum.</summary>
    public bool Nesterov { get; }
    /// <inheritdoc/>
    public override IReadOnlyList<Tensor> State => _velocity;

    /// <inheritdoc/>
    protected override void BeginStep() => (_lr, _mu) = ((float)LearningRate, (float)Momentum);

    /// <inheritdoc/>
    protected override void Update(int index, Span<float> g, Span<float> w)
    {
        if (_mu != 0)
        {
            var v = _velocity[index].Span;
            System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(v, _mu, g, v);
            if (Nesterov) System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(v, _mu, g, g);
            else v.CopyTo(g);
        }
        System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(g, -_lr, w, w);
    }
}
