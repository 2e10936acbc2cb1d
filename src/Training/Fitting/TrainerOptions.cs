using MLConv.Training.Distributed;

namespace MLConv.Training.Fitting;

/// <summary>The optimizer <see cref="Trainer"/> builds.</summary>
public enum OptimizerKind
{
    /// <summary>Adam (PyTorch's formulation, β1 = 0.9, β2 = 0.999, ε = 1e-8); <see cref="TrainerOptions.WeightDecay"/> is L2 added to the gradient.</summary>
    Adam,
    /// <summary>Stochastic gradient descent with <see cref="TrainerOptions.Momentum"/> (Nesterov's with <see cref="TrainerOptions.Nesterov"/>).</summary>
    Sgd,
}

/// <summary>Learning-rate schedules. All may be preceded by a linear warm-up of <see cref="TrainerOptions.WarmupEpochs"/>.</summary>
public enum LearningRateSchedule
{
    /// <summary>The base rate throughout.</summary>
    Constant,
    /// <summary>Multiplied by <see cref="TrainerOptions.StepGamma"/> every <see cref="TrainerOptions.StepSize"/> epochs.</summary>
    Step,
    /// <summary>Cosine annealing from the base rate to 0 over the run (per batch).</summary>
    Cosine,
    /// <summary>One-cycle (Smith): linear rise from base/25 to base over 30% of the steps, then cosine to base/25e4.</summary>
    OneCycle,
}

/// <summary>
/// Options of <see cref="Trainer"/>, the one options model of MLConv's training (the ML.NET face's
/// <c>CnnTrainerOptions.Trainer</c> and the CLI's <c>train</c> take theirs from here). The defaults are one recipe:
/// Adam, batch 64, a one-cycle schedule peaking at 4e-3, 15 epochs, ±2-pixel random shifts, no weight decay,
/// seed 0. With it LeNet-5 reaches 98.4–98.5% on the 2,000 held-out MNIST digits (README's main job:
/// <c>mlconv train --data data/mnist</c>).
/// </summary>
public sealed class TrainerOptions
{
    /// <summary>The default of <see cref="Epochs"/>, for signatures that need a constant.</summary>
    public const int DefaultEpochs = 15;

    /// <summary>Passes over the training data (≥ 1; default <see cref="DefaultEpochs"/>).</summary>
    public int Epochs { get; set; } = DefaultEpochs;
    /// <summary>Examples per mini-batch (≥ 1; default 64).</summary>
    public int BatchSize { get; set; } = 64;
    /// <summary>The optimizer (default Adam).</summary>
    public OptimizerKind Optimizer { get; set; } = OptimizerKind.Adam;
    /// <summary>Base learning rate: the peak of the one-cycle schedule, the start of the others.</summary>
    public double LearningRate { get; set; } = 4e-3;
    /// <summary>SGD momentum.</summary>
    public double Momentum { get; set; } = 0.9;
    /// <summary>SGD only: use Nesterov momentum (default false).</summary>
    public bool Nesterov { get; set; }
    /// <summary>L2 weight decay on weights (not on biases or BatchNorm parameters).</summary>
    public double WeightDecay { get; set; }
    /// <summary>How the learning rate changes over the run (default one-cycle).</summary>
    public LearningRateSchedule Schedule { get; set; } = LearningRateSchedule.OneCycle;
    /// <summary>Step schedule: epochs between rate drops (≥ 1; default 5).</summary>
    public int StepSize { get; set; } = 5;
    /// <summary>Step schedule: the factor applied at each drop, in (0, 1] (default 0.1).</summary>
    public double StepGamma { get; set; } = 0.1;
    /// <summary>Epochs of linear warm-up before the schedule, in [0, Epochs) (default 0).</summary>
    public int WarmupEpochs { get; set; }
    /// <summary>Seeds shuffling, augmentation and dropout masks (weights are seeded by the architecture builder).</summary>
    public int Seed { get; set; }
    /// <summary>Stop when validation loss has not improved for this many epochs (null: never).</summary>
    public int? EarlyStoppingPatience { get; set; }
    /// <summary>With early stopping: put back the weights of the best validation epoch at the end.</summary>
    public bool RestoreBestWeights { get; set; } = true;
    /// <summary>When set, a checkpoint is written here (atomically) after every epoch.</summary>
    public string? CheckpointPath { get; set; }
    /// <summary>
    /// Data augmentation: each training image is shifted by a random (dy, dx) in [−RandomShift, RandomShift]
    /// pixels, zero-filled (seeded; 0 = off). Validation and inference see the images unchanged.
    /// </summary>
    public int RandomShift { get; set; } = 2;
    /// <summary>Data augmentation: each training image is mirrored left to right with probability 1/2 (seeded; for photos, not digits).</summary>
    public bool HorizontalFlip { get; set; }
    /// <summary>
    /// Data augmentation for photos: each training image is replaced by a random region covering a fraction in
    /// [RandomCropScale, 1] of its area (aspect ratio in [3/4, 4/3]) resized back to the image size, bilinear (seeded;
    /// torchvision's RandomResizedCrop). 1 (default) = off; 0.5–0.8 suits photos, not digits.
    /// </summary>
    public double RandomCropScale { get; set; } = 1;
    /// <summary>Data augmentation (colour jitter): each training image's pixels are multiplied by a factor in [1 − b, 1 + b] (seeded; 0 = off).</summary>
    public double Brightness { get; set; }
    /// <summary>Colour jitter: each training image's deviation from its mean grey is scaled by a factor in [1 − c, 1 + c] (seeded; 0 = off).</summary>
    public double Contrast { get; set; }
    /// <summary>Colour jitter: each RGB training image's pixels move from their grey by a factor in [1 − s, 1 + s] (seeded; 0 = off; 0 → grey).</summary>
    public double Saturation { get; set; }
    /// <summary>True when any augmentation applies to the training images.</summary>
    public bool Augments => RandomShift > 0 || HorizontalFlip || RandomCropScale < 1 || Brightness > 0 || Contrast > 0 || Saturation > 0;
    /// <summary>
    /// An epoch's last, partial batch is skipped when it holds fewer examples than this and is not the only batch.
    /// The default 2 skips a batch of one, over which batch statistics (BatchNorm's variance) are undefined; 1 keeps every batch.
    /// </summary>
    public int MinLastBatchSize { get; set; } = 2;
    /// <summary>A batch progress report every this many batches (epoch ends are always reported).</summary>
    public int ProgressEveryBatches { get; set; } = 25;

    /// <summary>
    /// Data-parallel training: the group of processes this run is one rank of (null: this process alone). Every rank
    /// runs the same <c>Fit</c> on the same data; <see cref="BatchSize"/> is the global batch, split into
    /// <see cref="GradientShards"/> micro-shards, a contiguous block of them per rank. Only rank 0 writes checkpoints and reports
    /// progress; an exception on any rank ends the whole job (<see cref="ICommunicator.Abort"/>).
    /// <c>DistributedContext.FromEnvironment()?.Communicator</c> is the communicator of a process started by mpirun.
    /// </summary>
    public ICommunicator? Communicator { get; set; }

    /// <summary>
    /// The number of fixed micro-shards each batch's gradient is computed over (null: the communicator's size, 1 alone).
    /// Shard s holds the batch's examples [s·n/S, (s+1)·n/S); each shard's gradient (its loss divided by the whole batch's
    /// size n) is computed by its own forward and backward, and the batch's gradient is their sum in one fixed order (a
    /// balanced tree over the shards, <see cref="DataParallelStep"/>). The
    /// weights therefore depend on this number and not on how many ranks share the shards: K ranks (K dividing it) give
    /// bit for bit the weights of one process with the same value. Batch-norm statistics are those of each micro-shard
    /// (local, as in PyTorch's DDP without SyncBatchNorm); running statistics move by the mean of the shards' updates.
    /// Dropout masks are drawn per shard from seeds of (epoch, batch, shard). 1 is the plain single-process step.
    /// </summary>
    public int? GradientShards { get; set; }

    /// <summary>The micro-shard count in effect (see <see cref="GradientShards"/>).</summary>
    internal int EffectiveGradientShards => GradientShards ?? Communicator?.Size ?? 1;

    /// <summary>A copy to change without touching these options.</summary>
    public TrainerOptions Clone() => (TrainerOptions)MemberwiseClone();

    /// <summary>Checks every option's range.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range; the exception names it and its allowed range.</exception>
    public void Validate()
    {
        if (!Enum.IsDefined(Optimizer))
            throw new ArgumentOutOfRangeException(nameof(Optimizer), Optimizer, $"Optimizer {(int)Optimizer} is not one of {string.Join(", ", Enum.GetNames<OptimizerKind>())}.");
        if (!Enum.IsDefined(Schedule))
            throw new ArgumentOutOfRangeException(nameof(Schedule), Schedule, $"Schedule {(int)Schedule} is not one of {string.Join(", ", Enum.GetNames<LearningRateSchedule>())}.");
        if (Epochs < 1) throw new ArgumentOutOfRangeException(nameof(Epochs), Epochs, "Epochs must be >= 1.");
        if (BatchSize < 1) throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, "BatchSize must be >= 1.");
        if (!(LearningRate > 0) || double.IsInfinity(LearningRate)) throw new ArgumentOutOfRangeException(nameof(LearningRate), LearningRate, "LearningRate must be a finite value > 0.");
        if (!(WeightDecay >= 0)) throw new ArgumentOutOfRangeException(nameof(WeightDecay), WeightDecay, "WeightDecay must be >= 0.");
        if (!(Momentum >= 0 && Momentum < 1)) throw new ArgumentOutOfRangeException(nameof(Momentum), Momentum, "Momentum must be in [0, 1).");
        if (StepSize < 1) throw new ArgumentOutOfRangeException(nameof(StepSize), StepSize, "StepSize must be >= 1.");
        if (!(StepGamma > 0 && StepGamma <= 1)) throw new ArgumentOutOfRangeException(nameof(StepGamma), StepGamma, "StepGamma must be in (0, 1].");
        if (WarmupEpochs < 0 || WarmupEpochs >= Epochs) throw new ArgumentOutOfRangeException(nameof(WarmupEpochs), WarmupEpochs, "WarmupEpochs must be in [0, Epochs).");
        if (EarlyStoppingPatience is < 1) throw new ArgumentOutOfRangeException(nameof(EarlyStoppingPatience), EarlyStoppingPatience, "EarlyStoppingPatience must be >= 1.");
        if (RandomShift < 0) throw new ArgumentOutOfRangeException(nameof(RandomShift), RandomShift, "RandomShift must be >= 0.");
        if (!(RandomCropScale > 0 && RandomCropScale <= 1)) throw new ArgumentOutOfRangeException(nameof(RandomCropScale), RandomCropScale, "RandomCropScale must be in (0, 1] (1 = no cropping).");
        if (!(Brightness >= 0 && Brightness < 1)) throw new ArgumentOutOfRangeException(nameof(Brightness), Brightness, "Brightness must be in [0, 1).");
        if (!(Contrast >= 0 && Contrast < 1)) throw new ArgumentOutOfRangeException(nameof(Contrast), Contrast, "Contrast must be in [0, 1).");
        if (!(Saturation >= 0 && Saturation <= 1)) throw new ArgumentOutOfRangeException(nameof(Saturation), Saturation, "Saturation must be in [0, 1].");
        if (MinLastBatchSize < 1) throw new ArgumentOutOfRangeException(nameof(MinLastBatchSize), MinLastBatchSize, "MinLastBatchSize must be >= 1.");
        if (ProgressEveryBatches < 1) throw new ArgumentOutOfRangeException(nameof(ProgressEveryBatches), ProgressEveryBatches, "ProgressEveryBatches must be >= 1.");
        int ranks = Communicator?.Size ?? 1, shards = EffectiveGradientShards;
        if (shards < 1 || shards > BatchSize)
            throw new ArgumentOutOfRangeException(nameof(GradientShards), GradientShards, $"GradientShards must be in [1, BatchSize = {BatchSize}].");
        if (shards % ranks != 0)
            throw new ArgumentOutOfRangeException(nameof(GradientShards), GradientShards,
                $"GradientShards ({shards}) must be a multiple of the number of ranks ({ranks}): every rank takes the same number of micro-shards.");
    }

    /// <summary>Optimizer steps in one epoch over <paramref name="examples"/> examples (see <see cref="MinLastBatchSize"/>).</summary>
    internal int BatchesPerEpoch(int examples)
    {
        int batches = (examples + BatchSize - 1) / BatchSize, last = examples % BatchSize;
        return last != 0 && last < MinLastBatchSize && batches > 1 ? batches - 1 : batches;
    }

    /// <summary>Learning rate at global step <paramref name="step"/> of <paramref name="totalSteps"/>.</summary>
    public double LearningRateAt(long step, long stepsPerEpoch, long totalSteps)
    {
        long warm = WarmupEpochs * stepsPerEpoch;
        if (step < warm) return LearningRate * (step + 1) / warm;
        double t = step - warm, span = Math.Max(1, totalSteps - warm);
        switch (Schedule)
        {
            case LearningRateSchedule.Step:
                return LearningRate * Math.Pow(StepGamma, step / stepsPerEpoch / StepSize);
            case LearningRateSchedule.Cosine:
                return LearningRate * 0.5 * (1 + Math.Cos(Math.PI * Math.Min(1, t / span)));
            case LearningRateSchedule.OneCycle:
            {
                double up = 0.3 * span, low = LearningRate / 25, end = low / 1e4;
                if (t < up) return low + (LearningRate - low) * t / up;
                double f = Math.Min(1, (t - up) / Math.Max(1, span - up));
                return end + (LearningRate - end) * 0.5 * (1 + Math.Cos(Math.PI * f));
            }
            default:
                return LearningRate;
        }
    }
}
