using System.Diagnostics;
using MLConv.Training.Distributed;
using MLConv.Training.Layers;
using MLConv.Training.Losses;
using MLConv.Training.Data;
using MLConv.Training.Models;
using MLConv.Training.Optimizers;
using MLConv.Training.Tensors;

namespace MLConv.Training.Fitting;

/// <summary>
/// Mini-batch training of a <see cref="Network"/>: seeded shuffling, softmax cross-entropy, SGD or Adam,
/// a learning-rate schedule, per-epoch validation, early stopping, checkpoints and resume, cancellation
/// and <see cref="IProgress{T}"/> reports. Inputs are raw pixels; the network's normalisation is applied
/// per batch. Same seed and data give bit-identical weights (kernels are deterministic for any thread count).
/// <see cref="Fit"/> is the epoch loop; what a resume restores is the weights, the optimizer's state and a
/// <see cref="TrainingState"/>. The trainer knows no layer types: layer randomness is reseeded through
/// <see cref="Layer.Reseed"/>, and a too-small last batch is skipped by <see cref="TrainerOptions.MinLastBatchSize"/>.
/// With a <see cref="TrainerOptions.Communicator"/> of K processes the run is data-parallel (each rank computes its
/// micro-shards of every batch, <see cref="DataParallelStep"/>) and ends with the weights one process computes with the
/// same <see cref="TrainerOptions.GradientShards"/>, bit for bit; the trainer sees only <see cref="ICommunicator"/>.
/// </summary>
public sealed class Trainer
{
    /// <summary>A trainer with <paramref name="options"/> (null: the defaults), validated now.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of its range (see <see cref="TrainerOptions.Validate"/>).</exception>
    public Trainer(TrainerOptions? options = null)
    {
        Options = options ?? new TrainerOptions();
        Options.Validate();
    }

    /// <summary>The options this trainer runs with (the instance passed in, not a copy).</summary>
    public TrainerOptions Options { get; }

    /// <summary>Trains <paramref name="network"/> in place for <see cref="TrainerOptions.Epochs"/> epochs and returns the per-epoch metrics.</summary>
    /// <param name="network">The network to train; its weights are updated in place.</param>
    /// <param name="images">Raw (un-normalised) training pixels [N, C, H, W] of the network's input shape.</param>
    /// <param name="labels">One class index in [0, classes) per image.</param>
    /// <param name="validationImages">Optional raw validation pixels [M, C, H, W], evaluated after each epoch.</param>
    /// <param name="validationLabels">The validation class indices; required when <paramref name="validationImages"/> is given (ignored otherwise).</param>
    /// <param name="progress">Receives batch and epoch reports (<see cref="TrainingProgress"/>); may be null.</param>
    /// <param name="cancellationToken">Stops training between batches (throws <see cref="OperationCanceledException"/>).</param>
    /// <param name="resumeFrom">A checkpoint written by an earlier run with the same options; training continues after its last epoch.</param>
    /// <returns>The per-epoch metrics, the best epoch and whether early stopping ended the run.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="network"/>, <paramref name="images"/> or <paramref name="labels"/> is null (or validation labels missing).</exception>
    /// <exception cref="ArgumentException">The images are not [N, C, H, W] of the network's input, are empty, or the label count differs.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A label is outside [0, classes), or <see cref="TrainerOptions.RandomShift"/> is not below the image size.</exception>
    /// <exception cref="FileNotFoundException"><paramref name="resumeFrom"/> does not exist or is a folder.</exception>
    /// <exception cref="TrainingDivergedException">The loss became NaN or infinite.</exception>
    public TrainingResult Fit(Network network, Tensor images, int[] labels, Tensor? validationImages = null, int[]? validationLabels = null,
        IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default, string? resumeFrom = null)
    {
        var comm = Options.Communicator ?? SingleProcessCommunicator.Instance;
        if (comm.Size == 1) return FitRanks(network, images, labels, validationImages, validationLabels, progress, cancellationToken, resumeFrom, comm);
        try
        {
            return FitRanks(network, images, labels, validationImages, validationLabels, comm.Rank == 0 ? progress : null, cancellationToken, resumeFrom, comm);
        }
        catch (Exception e)
        {
            comm.Abort($"{e.GetType().Name}: {e.Message}");  // the other ranks would wait for this one forever
            throw;
        }
    }

    private TrainingResult FitRanks(Network network, Tensor images, int[] labels, Tensor? validationImages, int[]? validationLabels,
        IProgress<TrainingProgress>? progress, CancellationToken cancellationToken, string? resumeFrom, ICommunicator comm)
    {
        ArgumentNullException.ThrowIfNull(network);
        CheckData(network, images, labels, nameof(images), nameof(labels));
        if (validationImages is not null) CheckData(network, validationImages, validationLabels, nameof(validationImages), nameof(validationLabels));

        var o = Options;
        if (o.RandomShift >= Math.Min(network.Height, network.Width))
            throw new ArgumentOutOfRangeException(nameof(TrainerOptions.RandomShift), o.RandomShift,
                $"RandomShift {o.RandomShift} would shift {network.Height}x{network.Width} images entirely out of the frame; it must be below {Math.Min(network.Height, network.Width)}.");
        if (o.CheckpointPath is not null) AtomicFile.CheckWritable(o.CheckpointPath, nameof(TrainerOptions.CheckpointPath), "CheckpointPath");
        if (resumeFrom is not null && !File.Exists(resumeFrom))
            throw new FileNotFoundException(Directory.Exists(resumeFrom) ? $"resumeFrom '{resumeFrom}' is a folder, not a checkpoint file." : $"Checkpoint '{resumeFrom}' does not exist.", resumeFrom);
        var optimizer = CreateOptimizer(network.Parameters.Where(p => p.Trainable));
        var state = resumeFrom is null ? new TrainingState() : TrainingCheckpoint.Restore(resumeFrom, network, optimizer, o);
        var weights = network.StateTensors().Select(t => t.Value).ToList();
        foreach (var w in weights) comm.Broadcast(w.Span, 0);  // every rank starts from rank 0's weights
        bool keepBest = o.EarlyStoppingPatience is not null && o.RestoreBestWeights;
        var epochs = new EpochLoop(o, network, optimizer, images, labels, progress, cancellationToken, state.EpochsCompleted, comm);
        bool stoppedEarly = false;
        for (int epoch = state.EpochsCompleted; epoch < o.Epochs && !stoppedEarly; epoch++)
        {
            var epochClock = Stopwatch.StartNew();
            var (loss, accuracy, lr) = epochs.Train(epoch);
            (double Loss, double Accuracy)? validation = validationImages is null ? null : Evaluate(network, validationImages, validationLabels!, o.BatchSize, comm);
            var metrics = new EpochMetrics(epoch + 1, loss, accuracy, validation?.Loss, validation?.Accuracy, lr, epochClock.Elapsed.TotalSeconds);
            state.EndEpoch(metrics, keepBest ? weights : null);
            progress?.Report(epochs.Report(ProgressKind.Epoch, epoch, epochs.BatchesPerEpoch - 1, loss, accuracy, validation?.Loss, validation?.Accuracy, lr));
            if (o.CheckpointPath is not null && comm.Rank == 0) TrainingCheckpoint.Save(o.CheckpointPath, network, optimizer, state, o);
            stoppedEarly = state.PatienceExhausted(o.EarlyStoppingPatience);
        }

        if (stoppedEarly && state.BestWeights is { } best) TrainingCheckpoint.CopyState(best, weights, "best epoch");
        return new TrainingResult(state.History, validationImages is not null ? state.BestEpoch : state.History.Count, stoppedEarly, epochs.Elapsed)
        {
            ReductionTime = TimeSpan.FromSeconds(epochs.ReductionSeconds),
        };
    }

    private Optimizer CreateOptimizer(IEnumerable<Parameter> parameters) => Options.Optimizer == OptimizerKind.Sgd
        ? new Sgd(parameters, Options.LearningRate, Options.Momentum, Options.WeightDecay, Options.Nesterov)
        : new Adam(parameters, Options.LearningRate, weightDecay: Options.WeightDecay);

    /// <summary>
    /// One run's epochs: each a seeded shuffle, reseeded layer randomness, then per batch the gather, the augmentation,
    /// normalisation, the scheduled learning rate, forward, loss, backward and the optimizer step.
    /// </summary>
    private sealed class EpochLoop
    {
        private readonly TrainerOptions _o;
        private readonly Network _network;
        private readonly Optimizer _optimizer;
        private readonly Tensor _images;
        private readonly int[] _labels;
        private readonly IProgress<TrainingProgress>? _progress;
        private readonly CancellationToken _cancellation;
        private readonly int _startEpoch, _sample;
        private readonly long _totalSteps;
        private readonly SoftmaxCrossEntropy _loss = new();
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private readonly int[] _order, _batchLabels;
        private readonly float[] _unshifted;
        private readonly DataParallelStep? _parallel;
        private Tensor? _batch;
        private long _examplesSeen;

        public EpochLoop(TrainerOptions o, Network network, Optimizer optimizer, Tensor images, int[] labels,
            IProgress<TrainingProgress>? progress, CancellationToken cancellation, int startEpoch, ICommunicator comm)
        {
            (_o, _network, _optimizer, _images, _labels, _progress, _cancellation, _startEpoch) = (o, network, optimizer, images, labels, progress, cancellation, startEpoch);
            BatchesPerEpoch = o.BatchesPerEpoch(images.N);
            _totalSteps = (long)BatchesPerEpoch * o.Epochs;
            _sample = network.Channels * network.Height * network.Width;
            _order = new int[images.N];
            _batchLabels = new int[o.BatchSize];
            _unshifted = new float[o.RandomShift > 0 || o.RandomCropScale < 1 ? _sample : 0];
            if (o.EffectiveGradientShards > 1 || comm.Size > 1)
                _parallel = new DataParallelStep(network, network.Parameters.Where(p => p.Trainable), comm, o.EffectiveGradientShards);
        }

        public int BatchesPerEpoch { get; }
        public TimeSpan Elapsed => _clock.Elapsed;
        public double ReductionSeconds => _parallel?.ReduceSeconds ?? 0;

        /// <summary>Trains one epoch; returns its mean training loss, accuracy and last learning rate.</summary>
        public (double Loss, double Accuracy, double LearningRate) Train(int epoch)
        {
            var o = _o;
            var rng = new Random(unchecked(o.Seed * 1_000_003 + epoch * 7919 + 17));
            for (int i = 0; i < _order.Length; i++) _order[i] = i;
            rng.Shuffle(_order);
            int layerSeed = 0;
            _network.Root.Reseed(() => unchecked(o.Seed * 31 + epoch * 131 + layerSeed++));

            double lossSum = 0, lr = o.LearningRate;
            long correct = 0, seen = 0;
            for (int b = 0; b < BatchesPerEpoch; b++)
            {
                _cancellation.ThrowIfCancellationRequested();
                int start = b * o.BatchSize, count = Math.Min(o.BatchSize, _order.Length - start);
                var x = NextBatch(_order.AsSpan(start, count), rng);
                var labels = _batchLabels.AsSpan(0, count);

                lr = o.LearningRateAt((long)epoch * BatchesPerEpoch + b, BatchesPerEpoch, _totalSteps);
                _optimizer.LearningRate = lr;
                double l;
                if (_parallel is null)
                {
                    _optimizer.ZeroGrad();
                    var logits = _network.Forward(x, true);
                    l = _loss.Forward(logits, labels);
                    if (double.IsFinite(l)) _network.Backward(_loss.Backward());
                    correct += CountCorrect(logits, labels);
                }
                else
                {
                    int batch = b;
                    (l, long c) = _parallel.Compute(x, labels, s =>
                    {
                        int layerSeed = 0;
                        _network.Root.Reseed(() => unchecked(o.Seed * 31 + epoch * 131 + batch * 1_000_003 + s * 65_537 + layerSeed++));
                    });
                    correct += c;
                }
                if (!double.IsFinite(l))
                    throw new TrainingDivergedException($"The loss became {l} at epoch {epoch + 1}, batch {b + 1} (learning rate {lr:G3}); training stopped. Lower the learning rate or check the inputs.");
                _optimizer.Step();

                lossSum += l * count;
                seen += count;
                _examplesSeen += count;
                if (_progress is not null && (b + 1) % o.ProgressEveryBatches == 0 && b + 1 < BatchesPerEpoch)
                    _progress.Report(Report(ProgressKind.Batch, epoch, b, lossSum / seen, (double)correct / seen, null, null, lr));
            }
            return (lossSum / seen, (double)correct / seen, lr);
        }

        /// <summary>
        /// The examples at <paramref name="indices"/>, augmented as the options say (in this order: random resized crop,
        /// shift, mirror, colour jitter), normalised; their labels in _batchLabels.
        /// </summary>
        private Tensor NextBatch(ReadOnlySpan<int> indices, Random rng)
        {
            var net = _network;
            var x = Tensor.Reuse(ref _batch, indices.Length, net.Channels, net.Height, net.Width);
            Rows.Gather<float>(_images.Span, _sample, indices, x.Span);
            Rows.Gather<int>(_labels, 1, indices, _batchLabels);
            if (_o.RandomCropScale < 1)
                for (int i = 0; i < indices.Length; i++)
                {
                    var row = x.Data.AsSpan(i * _sample, _sample);
                    row.CopyTo(_unshifted);
                    Augmentation.RandomResizedCrop(_unshifted, row, net.Channels, net.Height, net.Width, _o.RandomCropScale, rng);
                }
            int s = _o.RandomShift;
            if (s > 0)
                for (int i = 0; i < indices.Length; i++)
                {
                    var row = x.Data.AsSpan(i * _sample, _sample);
                    row.CopyTo(_unshifted);
                    int dy = rng.Next(-s, s + 1), dx = rng.Next(-s, s + 1);
                    Shift(_unshifted, row, net.Channels, net.Height, net.Width, dy, dx);
                }
            if (_o.HorizontalFlip)
                for (int i = 0; i < indices.Length; i++)
                    if (rng.Next(2) == 1)
                        for (int r = 0; r < net.Channels * net.Height; r++) x.Data.AsSpan((i * net.Channels * net.Height + r) * net.Width, net.Width).Reverse();
            if (_o.Brightness > 0 || _o.Contrast > 0 || _o.Saturation > 0)
                for (int i = 0; i < indices.Length; i++)
                    Augmentation.ColorJitter(x.Data.AsSpan(i * _sample, _sample), net.Channels, net.Height * net.Width, _o.Brightness, _o.Contrast, _o.Saturation, rng);
            net.Normalize(x);
            return x;
        }

        public TrainingProgress Report(ProgressKind kind, int epoch, int batch, double loss, double accuracy, double? validationLoss, double? validationAccuracy, double lr)
        {
            int epochs = _o.Epochs, batches = BatchesPerEpoch;
            var elapsed = _clock.Elapsed;
            double doneFraction = ((double)(epoch - _startEpoch) * batches + batch + 1) / ((double)(epochs - _startEpoch) * batches);
            var eta = TimeSpan.FromSeconds(elapsed.TotalSeconds * (1 - doneFraction) / Math.Max(1e-9, doneFraction));
            return new TrainingProgress(kind, epoch + 1, epochs, batch + 1, batches, loss, accuracy, validationLoss, validationAccuracy,
                lr, _examplesSeen / Math.Max(1e-9, elapsed.TotalSeconds), elapsed, eta);
        }
    }

    /// <summary>Mean cross-entropy and accuracy in inference mode over raw (un-normalised) images.</summary>
    public static (double Loss, double Accuracy) Evaluate(Network network, Tensor images, int[] labels, int batchSize = 256)
    {
        ArgumentNullException.ThrowIfNull(network);
        CheckData(network, images, labels, nameof(images), nameof(labels));
        var loss = new SoftmaxCrossEntropy();
        double total = 0;
        long correct = 0;
        network.ForEachBatchOfPixels(images, batchSize, (start, logits) =>
        {
            var batchLabels = labels.AsSpan(start, logits.N);
            total += (double)loss.Forward(logits, batchLabels) * logits.N;
            correct += CountCorrect(logits, batchLabels);
        });
        return (total / images.N, (double)correct / images.N);
    }

    /// <summary>
    /// <see cref="Evaluate(Network, Tensor, int[], int)"/> shared among the ranks: rank r evaluates batches r, r + K, …; each
    /// batch's loss and correct count go into a vector where the other ranks hold zeros, summed over the ranks (x + 0 = x
    /// whatever MPI's order, so exact); every rank then adds the batches in order, as one process does — the same bits.
    /// </summary>
    internal static (double Loss, double Accuracy) Evaluate(Network network, Tensor images, int[] labels, int batchSize, ICommunicator comm)
    {
        if (comm.Size == 1) return Evaluate(network, images, labels, batchSize);
        int batches = (images.N + batchSize - 1) / batchSize, rank = comm.Rank, size = comm.Size;
        var parts = new float[2 * batches];
        var loss = new SoftmaxCrossEntropy();
        network.ForEachBatchOfPixels(images, batchSize, (start, logits) =>
        {
            var batchLabels = labels.AsSpan(start, logits.N);
            parts[2 * (start / batchSize)] = loss.Forward(logits, batchLabels);
            parts[2 * (start / batchSize) + 1] = CountCorrect(logits, batchLabels);
        }, b => b % size == rank);
        comm.AllReduceSum(parts);
        double total = 0;
        long correct = 0;
        for (int b = 0; b < batches; b++)
        {
            total += (double)parts[2 * b] * Math.Min(batchSize, images.N - b * batchSize);
            correct += (long)parts[2 * b + 1];
        }
        return (total / images.N, (double)correct / images.N);
    }

    /// <summary>dst[c, y, x] = src[c, y − dy, x − dx], zero outside the image.</summary>
    internal static void Shift(ReadOnlySpan<float> src, Span<float> dst, int channels, int height, int width, int dy, int dx)
    {
        dst.Clear();
        int x0 = Math.Max(0, dx), x1 = Math.Min(width, width + dx);
        if (x1 <= x0) return;
        for (int c = 0; c < channels; c++)
        for (int y = Math.Max(0, dy); y < Math.Min(height, height + dy); y++)
            src.Slice((c * height + y - dy) * width + x0 - dx, x1 - x0).CopyTo(dst.Slice((c * height + y) * width + x0, x1 - x0));
    }

    internal static int CountCorrect(Tensor logits, ReadOnlySpan<int> labels)
    {
        int k = logits.Shape[1], c = 0;
        for (int i = 0; i < labels.Length; i++)
            if (Rows.ArgMax(logits.Data.AsSpan(i * k, k)) == labels[i]) c++;
        return c;
    }

    private static void CheckData(Network network, Tensor images, int[]? labels, string imagesName, string labelsName)
    {
        ArgumentNullException.ThrowIfNull(images, imagesName);
        ArgumentNullException.ThrowIfNull(labels, labelsName);
        if (images.Rank != 4 || images.C != network.Channels || images.H != network.Height || images.W != network.Width)
            throw new ArgumentException($"{imagesName} must be [N, {network.Channels}, {network.Height}, {network.Width}]; got [{images.ShapeString}].", imagesName);
        if (images.N == 0) throw new ArgumentException($"{imagesName} is empty; training needs at least one example.", imagesName);
        if (labels.Length != images.N) throw new ArgumentException($"{labelsName} has {labels.Length} entries; {imagesName} has {images.N} images.", labelsName);
        for (int i = 0; i < labels.Length; i++)
            if ((uint)labels[i] >= (uint)network.NumClasses)
                throw new ArgumentOutOfRangeException(labelsName, labels[i], $"Label {i} is {labels[i]}; it must be in [0, {network.NumClasses - 1}].");
        images.ThrowIfNotFinite(imagesName);
    }
}
