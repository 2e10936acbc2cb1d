using System.Text.Json.Nodes;
using MLConv.Training.Tensors;

namespace MLConv.Training.Training;

/// <summary>Trainer position saved beside the weights in a checkpoint file.</summary>
internal sealed record TrainingCheckpoint(
    int EpochsCompleted, long OptimizerSteps, string OptimizerKind,
    double BestValidationLoss, int BestEpoch, int EpochsWithoutImprovement,
    IReadOnlyList<EpochMetrics> History, IReadOnlyList<Tensor> OptimizerState, int BestTensorCount)
{
    public JsonObject ToJson() => new()
    {
        ["epochsCompleted"] = EpochsCompleted,
        ["optimizerSteps"] = OptimizerSteps,
        ["optimizer"] = OptimizerKind,
        ["bestValidationLoss"] = double.IsFinite(BestValidationLoss) ? BestValidationLoss : null,
        ["bestEpoch"] = BestEpoch,
        ["epochsWithoutImprovement"] = EpochsWithoutImprovement,
        ["bestTensorCount"] = BestTensorCount,
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
        o["bestTensorCount"]?.GetValue<int>() ?? 0);
}
