namespace MLConv.Training.Fitting;

/// <summary>What a <see cref="TrainingProgress"/> report marks.</summary>
public enum ProgressKind
{
    /// <summary>A mini-batch finished; the metrics are the running ones of the epoch so far.</summary>
    Batch,
    /// <summary>An epoch finished; the metrics are the epoch's, with validation when there is validation data.</summary>
    Epoch,
}

/// <summary>
/// A progress report. Batch reports carry the running training loss/accuracy of the epoch so far;
/// epoch reports add validation loss/accuracy (when there is validation data).
/// </summary>
public sealed record TrainingProgress(
    ProgressKind Kind,
    int Epoch, int Epochs,
    int Batch, int BatchesPerEpoch,
    double Loss, double Accuracy,
    double? ValidationLoss, double? ValidationAccuracy,
    double LearningRate,
    double ExamplesPerSecond,
    TimeSpan Elapsed, TimeSpan Eta)
{
    /// <summary>One log line: epoch, loss, accuracy, validation metrics, learning rate, throughput and times for an epoch report; epoch, batch, loss, accuracy, throughput and ETA for a batch report.</summary>
    public override string ToString() => Kind == ProgressKind.Epoch
        ? $"epoch {Epoch}/{Epochs}: loss {Loss:F4} acc {Accuracy:P2}" +
          (ValidationLoss is { } vl ? $" | val loss {vl:F4} val acc {ValidationAccuracy:P2}" : "") +
          $" | lr {LearningRate:G3} | {ExamplesPerSecond:F0} ex/s | elapsed {Elapsed:mm\\:ss} eta {Eta:mm\\:ss}"
        : $"epoch {Epoch}/{Epochs} batch {Batch}/{BatchesPerEpoch}: loss {Loss:F4} acc {Accuracy:P2} | {ExamplesPerSecond:F0} ex/s | eta {Eta:mm\\:ss}";
}

/// <summary>Metrics of one finished epoch.</summary>
public sealed record EpochMetrics(int Epoch, double Loss, double Accuracy, double? ValidationLoss, double? ValidationAccuracy, double LearningRate, double Seconds);

/// <summary>
/// What <see cref="Trainer.Fit"/> returns. <see cref="ReductionTime"/>: in data-parallel training (more than one
/// gradient micro-shard), the time spent waiting for the shards' gradients and adding them (zero otherwise).
/// </summary>
public sealed record TrainingResult(IReadOnlyList<EpochMetrics> History, int BestEpoch, bool StoppedEarly, TimeSpan Elapsed)
{
    /// <summary>Data-parallel training only: time spent waiting for and adding the shards' gradients (zero otherwise).</summary>
    public TimeSpan ReductionTime { get; init; }
}

/// <summary>Training produced a NaN or infinite loss.</summary>
public sealed class TrainingDivergedException(string message) : InvalidOperationException(message);
