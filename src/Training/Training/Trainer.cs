using System.Diagnostics;
using MLConv.Training.Layers;
using MLConv.Training.Losses;
using MLConv.Training.Models;
using MLConv.Training.Optimizers;
using MLConv.Training.Tensors;

namespace MLConv.Training.Training;

/// <summary>
/// Mini-batch training of a <see cref="Network"/>: seeded shuffling, softmax cross-entropy, SGD or Adam,
/// a learning-rate schedule, per-epoch validation, early stopping, checkpoints and resume, cancellation
/// and <see cref="IProgress{T}"/> reports. Inputs are raw pixels; the network's normalisation is applied
/// per batch. Same seed and data give bit-identical weights (kernels are deterministic for any thread count).
/// </summary>
public sealed class Trainer
{
    public Trainer(TrainerOptions? options = null)
    {
        Options = options ?? new TrainerOptions();
        Options.Validate();
    }

    public TrainerOptions Options { get; }

    /// <param name="resumeFrom">A checkpoint written by an earlier run with the same options; training continues after its last epoch.</param>
    public TrainingResult Fit(Network network, Tensor images, int[] labels, Tensor? validationImages = null, int[]? validationLabels = null,
        IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default, string? resumeFrom = null)
    {
        ArgumentNullException.ThrowIfNull(network);
        CheckData(network, images, labels, nameof(images), nameof(labels));
        bool hasValidation = validationImages is not null;
        if (hasValidation) CheckData(network, validationImages!, validationLabels, nameof(validationImages), nameof(validationLabels));

        var o = Options;
        var parameters = network.Parameters.ToList();
        Optimizer optimizer = o.Optimizer == OptimizerKind.Sgd
            ? new Sgd(parameters, o.LearningRate, o.Momentum, o.WeightDecay, o.Nesterov)
            : new Adam(parameters, o.LearningRate, weightDecay: o.WeightDecay);
        var loss = new SoftmaxCrossEntropy();
        int n = images.N;
        int batchesPerEpoch = (n + o.BatchSize - 1) / o.BatchSize;
        if (n % o.BatchSize == 1 && n > 1) batchesPerEpoch--;   // a 1-sample last batch is dropped (BatchNorm needs > 1 value)
        long totalSteps = (long)batchesPerEpoch * o.Epochs;

        var history = new List<EpochMetrics>();
        int startEpoch = 0, bestEpoch = 0, sinceBest = 0;
        double bestValLoss = double.PositiveInfinity;
        var stateTensors = StateTensors(network);
        Tensor[]? best = null;
        if (resumeFrom is not null)
        {
            var saved = ModelFile.Load(resumeFrom, out var cp);
            if (cp is null) throw new InvalidDataException($"'{resumeFrom}' is a model file, not a training checkpoint.");
            if (cp.OptimizerKind != o.Optimizer.ToString())
                throw new InvalidDataException($"Checkpoint '{resumeFrom}' was written with {cp.OptimizerKind}; the options ask for {o.Optimizer}.");
            cp.CheckResumable(o, resumeFrom);
            CopyState(StateTensors(saved), stateTensors, resumeFrom);
            int optCount = cp.OptimizerState.Count - cp.BestTensorCount;
            optimizer.LoadState([.. cp.OptimizerState.Take(optCount).Select(t => t.Span.ToArray())], cp.OptimizerSteps);
            if (cp.BestTensorCount > 0) best = [.. cp.OptimizerState.Skip(optCount)];
            startEpoch = cp.EpochsCompleted;
            bestValLoss = cp.BestValidationLoss; bestEpoch = cp.BestEpoch; sinceBest = cp.EpochsWithoutImprovement;
            history.AddRange(cp.History);
        }

        var batch = new Tensor(o.BatchSize, network.Channels, network.Height, network.Width);
        var batchLabels = new int[o.BatchSize];
        var order = new int[n];
        var clock = Stopwatch.StartNew();
        long examplesSeen = 0;
        bool stoppedEarly = false;
        int sample = network.Channels * network.Height * network.Width;

        for (int epoch = startEpoch; epoch < o.Epochs; epoch++)
        {
            var epochClock = Stopwatch.StartNew();
            var rng = new Random(unchecked(o.Seed * 1_000_003 + epoch * 7919 + 17));
            for (int i = 0; i < n; i++) order[i] = i;
            rng.Shuffle(order);
            int d = 0;
            foreach (var layer in network.Root.Descendants())
                if (layer is Dropout drop) drop.Reseed(unchecked(o.Seed * 31 + epoch * 131 + d++));

            double lossSum = 0, lr = o.LearningRate;
            long correct = 0, seen = 0;
            for (int b = 0; b < batchesPerEpoch; b++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                int start = b * o.BatchSize, count = Math.Min(o.BatchSize, n - start);
                var x = count == o.BatchSize ? batch : new Tensor(count, network.Channels, network.Height, network.Width);
                for (int i = 0; i < count; i++)
                {
                    int src = order[start + i];
                    var dst = x.Data.AsSpan(i * sample, sample);
                    if (o.RandomShift > 0)
                        Shift(images.Data.AsSpan(src * sample, sample), dst, network.Channels, network.Height, network.Width,
                            rng.Next(-o.RandomShift, o.RandomShift + 1), rng.Next(-o.RandomShift, o.RandomShift + 1));
                    else images.Data.AsSpan(src * sample, sample).CopyTo(dst);
                    batchLabels[i] = labels[src];
                }
                network.Normalize(x);

                long step = (long)epoch * batchesPerEpoch + b;
                lr = o.LearningRateAt(step, batchesPerEpoch, totalSteps);
                optimizer.LearningRate = lr;
                optimizer.ZeroGrad();
                var logits = network.Forward(x, true);
                float l = loss.Forward(logits, batchLabels.AsSpan(0, count));
                if (!float.IsFinite(l))
                    throw new TrainingDivergedException($"The loss became {l} at epoch {epoch + 1}, batch {b + 1} (learning rate {lr:G3}); training stopped. Lower the learning rate or check the inputs.");
                network.Backward(loss.Backward());
                optimizer.Step();

                lossSum += (double)l * count;
                correct += CountCorrect(logits, batchLabels.AsSpan(0, count));
                seen += count;
                examplesSeen += count;
                if (progress is not null && (b + 1) % o.ProgressEveryBatches == 0 && b + 1 < batchesPerEpoch)
                    progress.Report(Report(ProgressKind.Batch, epoch, b, batchesPerEpoch, lossSum / seen, (double)correct / seen, null, null, lr, examplesSeen, clock.Elapsed, startEpoch));
            }

            double? valLoss = null, valAcc = null;
            if (hasValidation)
            {
                var (vl, va) = Evaluate(network, validationImages!, validationLabels!, o.BatchSize);
                valLoss = vl; valAcc = va;
            }
            history.Add(new EpochMetrics(epoch + 1, lossSum / seen, (double)correct / seen, valLoss, valAcc, lr, epochClock.Elapsed.TotalSeconds));
            progress?.Report(Report(ProgressKind.Epoch, epoch, batchesPerEpoch - 1, batchesPerEpoch, lossSum / seen, (double)correct / seen, valLoss, valAcc, lr, examplesSeen, clock.Elapsed, startEpoch));

            if (valLoss is { } v)
            {
                if (v < bestValLoss)
                {
                    bestValLoss = v; bestEpoch = epoch + 1; sinceBest = 0;
                    if (o.EarlyStoppingPatience is not null && o.RestoreBestWeights) best = [.. stateTensors.Select(t => t.Clone())];
                }
                else sinceBest++;
            }
            bool stop = o.EarlyStoppingPatience is { } patience && sinceBest >= patience;
            if (o.CheckpointPath is not null)
            {
                var extra = optimizer.State.Concat(best ?? []).ToList();
                ModelFile.Save(network, o.CheckpointPath, new TrainingCheckpoint(epoch + 1, optimizer.StepCount, o.Optimizer.ToString(),
                    bestValLoss, bestEpoch, sinceBest, history, extra, best?.Length ?? 0, TrainingCheckpoint.Fingerprint(o)));
            }
            if (stop) { stoppedEarly = true; break; }
        }

        if (stoppedEarly && best is not null) CopyState(best, stateTensors, "best epoch");
        return new TrainingResult(history, hasValidation ? bestEpoch : history.Count, stoppedEarly, clock.Elapsed);
    }

    private TrainingProgress Report(ProgressKind kind, int epoch, int batch, int batches, double loss, double acc, double? vl, double? va,
        double lr, long examples, TimeSpan elapsed, int startEpoch)
    {
        double doneFraction = ((double)(epoch - startEpoch) * batches + batch + 1) / ((double)(Options.Epochs - startEpoch) * batches);
        var eta = TimeSpan.FromSeconds(elapsed.TotalSeconds * (1 - doneFraction) / Math.Max(1e-9, doneFraction));
        return new TrainingProgress(kind, epoch + 1, Options.Epochs, batch + 1, batches, loss, acc, vl, va, lr,
            examples / Math.Max(1e-9, elapsed.TotalSeconds), elapsed, eta);
    }

    /// <summary>Mean cross-entropy and accuracy in inference mode over raw (un-normalised) images.</summary>
    public static (double Loss, double Accuracy) Evaluate(Network network, Tensor images, int[] labels, int batchSize = 256)
    {
        ArgumentNullException.ThrowIfNull(network);
        CheckData(network, images, labels, nameof(images), nameof(labels));
        var loss = new SoftmaxCrossEntropy();
        double total = 0;
        long correct = 0;
        InferInBatches(network, images, batchSize, (start, logits) =>
        {
            var batchLabels = labels.AsSpan(start, logits.N);
            total += (double)loss.Forward(logits, batchLabels) * logits.N;
            correct += CountCorrect(logits, batchLabels);
        });
        return (total / images.N, (double)correct / images.N);
    }

    /// <summary>Class probabilities [N, classes] for raw (un-normalised) images, computed in batches.</summary>
    public static Tensor PredictProbabilities(Network network, Tensor images, int batchSize = 256)
    {
        ArgumentNullException.ThrowIfNull(network);
        network.CheckInput(images);
        int k = network.NumClasses;
        var result = new Tensor(images.N, k);
        InferInBatches(network, images, batchSize, (start, logits) =>
        {
            for (int i = 0; i < logits.N; i++)
                System.Numerics.Tensors.TensorPrimitives.SoftMax(logits.Data.AsSpan(i * k, k), result.Data.AsSpan((start + i) * k, k));
        });
        return result;
    }

    /// <summary>Normalises consecutive batches of raw images and hands each batch's logits (inference mode) to <paramref name="onBatch"/>.</summary>
    private static void InferInBatches(Network network, Tensor images, int batchSize, Action<int, Tensor> onBatch)
    {
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "batchSize must be >= 1.");
        int n = images.N, sample = network.Channels * network.Height * network.Width;
        Tensor? x = null;
        for (int start = 0; start < n; start += batchSize)
        {
            int count = Math.Min(batchSize, n - start);
            x = Tensor.Reuse(ref x, count, network.Channels, network.Height, network.Width);
            images.Data.AsSpan(start * sample, count * sample).CopyTo(x.Span);
            network.Normalize(x);
            onBatch(start, network.Forward(x, false));
        }
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

    private static int CountCorrect(Tensor logits, ReadOnlySpan<int> labels)
    {
        int k = logits.Shape[1], c = 0;
        for (int i = 0; i < labels.Length; i++)
            if (System.Numerics.Tensors.TensorPrimitives.IndexOfMax(logits.Data.AsSpan(i * k, k)) == labels[i]) c++;
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

    /// <summary>Parameters then buffers of the network, in path order: the state a checkpoint restores.</summary>
    private static List<Tensor> StateTensors(Network network) =>
        [.. network.Root.NamedParameters().Select(p => p.Parameter.Value), .. network.Root.NamedBuffers().Select(b => b.Value)];

    private static void CopyState(IReadOnlyList<Tensor> from, IReadOnlyList<Tensor> to, string source)
    {
        if (from.Count != to.Count) throw new InvalidDataException($"'{source}' does not match the network: {from.Count} tensors vs {to.Count}.");
        for (int i = 0; i < to.Count; i++)
        {
            if (!from[i].ShapeEquals(to[i].Shape))
                throw new InvalidDataException($"'{source}' does not match the network: tensor {i} is [{from[i].ShapeString}], expected [{to[i].ShapeString}].");
            from[i].Span.CopyTo(to[i].Span);
        }
    }
}
