using System.Text.Json.Nodes;
using MLConv.Training.Models;
using MLConv.Training.Optimizers;
using MLConv.Training.Tensors;

namespace MLConv.Training.Fitting;

/// <summary>
/// A checkpoint is a model file whose extra section (<see cref="ModelFileExtra"/>) holds the run: the
/// <see cref="TrainingState"/> and the options that shape the trajectory as JSON, the optimizer's state as tensors
/// "optimizer.{i}" and, when kept, the best epoch's weights as tensors "best.{path}".
/// </summary>
internal static class TrainingCheckpoint
{
    private const string OptimizerPrefix = "optimizer.", BestPrefix = "best.";

    public static void Save(string path, Network network, Optimizer optimizer, TrainingState state, TrainerOptions options)
    {
        var header = new JsonObject
        {
            ["epochsCompleted"] = state.EpochsCompleted,
            ["optimizer"] = options.Optimizer.ToString(),
            ["optimizerSteps"] = optimizer.StepCount,
            ["bestValidationLoss"] = double.IsFinite(state.BestValidationLoss) ? state.BestValidationLoss : null,
            ["bestEpoch"] = state.BestEpoch,
            ["epochsWithoutImprovement"] = state.EpochsWithoutImprovement,
            ["options"] = Fingerprint(options),
            ["history"] = new JsonArray([.. state.History.Select(h => (JsonNode)new JsonObject
            {
                ["epoch"] = h.Epoch, ["loss"] = h.Loss, ["accuracy"] = h.Accuracy,
                ["validationLoss"] = h.ValidationLoss, ["validationAccuracy"] = h.ValidationAccuracy,
                ["learningRate"] = h.LearningRate, ["seconds"] = h.Seconds,
            })]),
        };
        var tensors = optimizer.State.Select((t, i) => (OptimizerPrefix + i, t)).ToList();
        if (state.BestWeights is { } best)
            tensors.AddRange(network.StateTensors().Zip(best, (w, b) => (BestPrefix + w.Path, b)));
        ModelFile.Save(network, path, new ModelFileExtra(header, tensors));
    }

    /// <summary>
    /// Loads the checkpoint at <paramref name="path"/> into <paramref name="network"/>'s weights and <paramref name="optimizer"/>'s
    /// state and returns the run's state; throws <see cref="InvalidDataException"/> when it would not continue the run <paramref name="options"/> describe.
    /// </summary>
    public static TrainingState Restore(string path, Network network, Optimizer optimizer, TrainerOptions options)
    {
        var saved = ModelFile.Load(path, out var extra);
        if (extra is null) throw new InvalidDataException($"'{path}' is a model file, not a training checkpoint.");
        var h = extra.Header;
        string kind = h["optimizer"]!.GetValue<string>();
        if (kind != options.Optimizer.ToString())
            throw new InvalidDataException($"Checkpoint '{path}' was written with {kind}; the options ask for {options.Optimizer}.");
        CheckResumable(h["options"] as JsonObject, options, path);

        var weights = network.StateTensors().Select(t => t.Value).ToList();
        CopyState(saved.StateTensors().Select(t => t.Value).ToList(), weights, path);
        optimizer.LoadState([.. Tagged(extra, OptimizerPrefix).Select(t => t.Span.ToArray())], h["optimizerSteps"]!.GetValue<long>());
        var best = Tagged(extra, BestPrefix);
        return new TrainingState(
            [.. h["history"]!.AsArray().Select(e => new EpochMetrics(
                e!["epoch"]!.GetValue<int>(), e["loss"]!.GetValue<double>(), e["accuracy"]!.GetValue<double>(),
                e["validationLoss"]?.GetValue<double>(), e["validationAccuracy"]?.GetValue<double>(),
                e["learningRate"]!.GetValue<double>(), e["seconds"]!.GetValue<double>()))],
            h["bestValidationLoss"]?.GetValue<double>() ?? double.PositiveInfinity,
            h["bestEpoch"]!.GetValue<int>(),
            h["epochsWithoutImprovement"]!.GetValue<int>(),
            best.Length > 0 ? best : null);
    }

    private static Tensor[] Tagged(ModelFileExtra extra, string prefix) =>
        [.. extra.Tensors.Where(t => t.Name.StartsWith(prefix, StringComparison.Ordinal)).Select(t => t.Value)];

    /// <summary>The options that shape a run's trajectory, as the checkpoint records them.</summary>
    private static JsonObject Fingerprint(TrainerOptions o) => new()
    {
        ["seed"] = o.Seed, ["batchSize"] = o.BatchSize, ["optimizer"] = o.Optimizer.ToString(), ["learningRate"] = o.LearningRate,
        ["momentum"] = o.Momentum, ["nesterov"] = o.Nesterov, ["weightDecay"] = o.WeightDecay, ["schedule"] = o.Schedule.ToString(),
        ["stepSize"] = o.StepSize, ["stepGamma"] = o.StepGamma, ["warmupEpochs"] = o.WarmupEpochs, ["randomShift"] = o.RandomShift, ["horizontalFlip"] = o.HorizontalFlip,
        ["randomCropScale"] = o.RandomCropScale, ["brightness"] = o.Brightness, ["contrast"] = o.Contrast, ["saturation"] = o.Saturation,
        ["minLastBatchSize"] = o.MinLastBatchSize, ["epochs"] = o.Epochs, ["gradientShards"] = o.EffectiveGradientShards,
    };

    /// <summary>
    /// Throws when <paramref name="o"/> would not continue the recorded run: every recorded option must match, and the
    /// epoch count too when the schedule spans the whole run (cosine, one-cycle).
    /// </summary>
    private static void CheckResumable(JsonObject? recorded, TrainerOptions o, string path)
    {
        if (recorded is null) return;
        var now = Fingerprint(o);
        bool scheduleSpansRun = o.Schedule is LearningRateSchedule.Cosine or LearningRateSchedule.OneCycle;
        foreach (var (key, value) in recorded)
        {
            if (key == "epochs" && !scheduleSpansRun) continue;
            if (!JsonNode.DeepEquals(value, now[key]))
                throw new InvalidDataException($"Checkpoint '{path}' was written with {key} = {value?.ToJsonString()}; the options now say {now[key]?.ToJsonString()}. Resume with the same options.");
        }
    }

    /// <summary>Copies tensors position by position, checking that they match in count and shape.</summary>
    internal static void CopyState(IReadOnlyList<Tensor> from, IReadOnlyList<Tensor> to, string source)
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
