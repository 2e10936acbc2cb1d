using System.Text.Json.Nodes;
using MLConv.Training.Tensors;

namespace MLConv.Training.Training;

/// <summary>Trainer position saved beside the weights in a checkpoint file.</summary>
internal sealed record TrainingCheckpoint(
    int EpochsCompleted, long OptimizerSteps, string OptimizerKind,
    double BestValidationLoss, int BestEpoch, int EpochsWithoutImprovement,
    IReadOnlyList<EpochMetrics> History, IReadOnlyList<Tensor> OptimizerState, int BestTensorCount, JsonObject? Options = null)
{
    /// <summary>The options that shape a run's trajectory, as the checkpoint records them.</summary>
    public static JsonObject Fingerprint(TrainerOptions o) => new()
    {
        ["seed"] = o.Seed, ["batchSize"] = o.BatchSize, ["optimizer"] = o.Optimizer.ToString(), ["learningRate"] = o.LearningRate,
        ["momentum"] = o.Momentum, ["nesterov"] = o.Nesterov, ["weightDecay"] = o.WeightDecay, ["schedule"] = o.Schedule.ToString(),
        ["stepSize"] = o.StepSize, ["stepGamma"] = o.StepGamma, ["warmupEpochs"] = o.WarmupEpochs, ["randomShift"] = o.RandomShift,
        ["epochs"] = o.Epochs,
    };

    /// <summary>
    /// Throws when <paramref name="o"/> would not continue the recorded run: every recorded option must match, and the
    /// epoch count too when the schedule spans the whole run (cosine, one-cycle).
    /// </summary>
    public void CheckResumable(TrainerOptions o, string path)
    {
        if (Options is null) return;
        var now = Fingerprint(o);
        bool scheduleSpansRun = o.Schedule is LearningRateSchedule.Cosine or LearningRateSchedule.OneCycle;
        foreach (var (key, value) in Options)
        {
            if (key == "epochs" && !scheduleSpansRun) continue;
            if (!JsonNode.DeepEquals(value, now[key]))
                throw new InvalidDataException($"Checkpoint '{path}' was written with {key} = {value?.ToJsonString()}; the options now say {now[key]?.ToJsonString()}. Resume with the same options.");
        }
    }

    public JsonObject ToJson() => new()
    {
        ["epochsCompleted"] = EpochsCompleted,
        ["optimizerSteps"] = OptimizerSteps,
        ["optimizer"] = OptimizerKind,
        ["bestValidationLoss"] = double.IsFinite(BestValidationLoss) ? BestValidationLoss : null,
        ["bestEpoch"] = BestEpoch,
        ["epochsWithoutImprovement"] = EpochsWithoutImprovement,
        ["bestTensorCount"] = BestTensorCount,
        ["options"] = Options?.DeepClone(),
        ["history"] = new JsonArray([.. History.Select(h => (JsonNode)new JsonObject
        {
            ["epoch"] = h.Epoch, ["loss"] = h.Loss, ["accuracy"] = h.Accuracy,
            ["validationLoss"] = h.ValidationLoss, ["validationAccuracy"] = h.ValidationAccuracy,
            ["learningRate"] = h.LearningRate, ["seconds"] = h.Seconds,
        })]),
    };

    public static TrainingCheckpoint FromJson(JsonObject o, IReadOnlyList<Tensor> extraTensors) => new(
        o["epochsCompleted"]!.GetValue<int>(),
        o["optimizerSteps"]!.GetValue<long>(),
        o["optimizer"]!.GetValue<string>(),
        o["bestValidationLoss"]?.GetValue<double>() ?? double.PositiveInfinity,
        o["bestEpoch"]!.GetValue<int>(),
        o["epochsWithoutImprovement"]!.GetValue<int>(),
        [.. o["history"]!.AsArray().Select(h => new EpochMetrics(
            h!["epoch"]!.GetValue<int>(), h["loss"]!.GetValue<double>(), h["accuracy"]!.GetValue<double>(),
            h["validationLoss"]?.GetValue<double>(), h["validationAccuracy"]?.GetValue<double>(),
            h["learningRate"]!.GetValue<double>(), h["seconds"]!.GetValue<double>()))],
        extraTensors,
        o["bestTensorCount"]?.GetValue<int>() ?? 0,
        o["options"] as JsonObject);
}
