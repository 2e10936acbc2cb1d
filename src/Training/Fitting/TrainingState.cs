using MLConv.Training.Tensors;

namespace MLConv.Training.Fitting;

/// <summary>
/// Where a run stands after its last finished epoch: what resuming restores besides the weights and the optimizer's
/// own state — the history (one entry per finished epoch), early stopping's best validation loss, best epoch and
/// epochs without improvement, and the best epoch's weights when they are kept to be put back.
/// </summary>
internal sealed class TrainingState
{
    public TrainingState() { }

    public TrainingState(IEnumerable<EpochMetrics> history, double bestValidationLoss, int bestEpoch, int epochsWithoutImprovement, Tensor[]? bestWeights)
    {
        History.AddRange(history);
        BestValidationLoss = bestValidationLoss;
        BestEpoch = bestEpoch;
        EpochsWithoutImprovement = epochsWithoutImprovement;
        BestWeights = bestWeights;
    }

    public List<EpochMetrics> History { get; } = [];
    public int EpochsCompleted => History.Count;
    public double BestValidationLoss { get; private set; } = double.PositiveInfinity;
    public int BestEpoch { get; private set; }
    public int EpochsWithoutImprovement { get; private set; }
    /// <summary>Parameters then buffers (in path order) at <see cref="BestEpoch"/>, when kept.</summary>
    public Tensor[]? BestWeights { get; private set; }

    /// <summary>
    /// Records a finished epoch. A validation loss below the best so far makes it the best epoch (and copies
    /// <paramref name="weightsToKeep"/> when given); one that is not counts an epoch without improvement.
    /// </summary>
    public void EndEpoch(EpochMetrics metrics, IReadOnlyList<Tensor>? weightsToKeep)
    {
        History.Add(metrics);
        if (metrics.ValidationLoss is not { } loss) return;
        if (loss < BestValidationLoss)
        {
            BestValidationLoss = loss;
            BestEpoch = metrics.Epoch;
            EpochsWithoutImprovement = 0;
            if (weightsToKeep is not null) BestWeights = [.. weightsToKeep.Select(t => t.Clone())];
        }
        else EpochsWithoutImprovement++;
    }

    public bool PatienceExhausted(int? patience) => patience is { } p && EpochsWithoutImprovement >= p;
}
