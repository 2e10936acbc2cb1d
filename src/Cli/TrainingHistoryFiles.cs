using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using MLConv.Training.Data;
using MLConv.Training.Fitting;

namespace MLConv.Cli;

/// <summary>
/// A run's history next to its model: <c>&lt;model&gt;.history.csv</c> (epoch, loss, accuracy, val_loss, val_accuracy,
/// learning_rate, seconds; empty cells when there is no validation) and <c>&lt;model&gt;.history.json</c> (the same
/// epochs plus the best epoch and whether training stopped early). Both written atomically.
/// </summary>
internal static class TrainingHistoryFiles
{
    public static string CsvPath(string modelPath) => Path.ChangeExtension(modelPath, ".history.csv");
    public static string JsonPath(string modelPath) => Path.ChangeExtension(modelPath, ".history.json");

    public static void Write(string modelPath, IReadOnlyList<EpochMetrics> history, int bestEpoch, bool stoppedEarly)
    {
        WriteCsv(CsvPath(modelPath), history);
        WriteJson(JsonPath(modelPath), history, bestEpoch, stoppedEarly);
    }

    public static void WriteCsv(string path, IReadOnlyList<EpochMetrics> history)
    {
        var sb = new StringBuilder("epoch,loss,accuracy,val_loss,val_accuracy,learning_rate,seconds\n");
        foreach (var m in history)
            sb.Append(CultureInfo.InvariantCulture,
                $"{m.Epoch},{m.Loss:R},{m.Accuracy:R},{m.ValidationLoss?.ToString("R", CultureInfo.InvariantCulture)},{m.ValidationAccuracy?.ToString("R", CultureInfo.InvariantCulture)},{m.LearningRate:R},{m.Seconds:R}\n");
        AtomicFile.Write(path, new UTF8Encoding(false).GetBytes(sb.ToString()));
    }

    public static void WriteJson(string path, IReadOnlyList<EpochMetrics> history, int bestEpoch, bool stoppedEarly)
    {
        var epochs = new JsonArray();
        foreach (var m in history)
            epochs.Add(new JsonObject
            {
                ["epoch"] = m.Epoch, ["loss"] = m.Loss, ["accuracy"] = m.Accuracy,
                ["valLoss"] = m.ValidationLoss, ["valAccuracy"] = m.ValidationAccuracy,
                ["learningRate"] = m.LearningRate, ["seconds"] = m.Seconds,
            });
        var root = new JsonObject { ["bestEpoch"] = bestEpoch, ["stoppedEarly"] = stoppedEarly, ["epochs"] = epochs };
        AtomicFile.Write(path, Encoding.UTF8.GetBytes(root.ToJsonString(new JsonSerializerOptions { WriteIndented = true })));
    }

    /// <summary>Reads a history JSON written by <see cref="WriteJson"/>.</summary>
    public static (List<EpochMetrics> History, int BestEpoch, bool StoppedEarly) ReadJson(string path)
    {
        var root = JsonNode.Parse(File.ReadAllText(path)) as JsonObject
            ?? throw new InvalidDataException($"'{path}' is not a training history (a JSON object).");
        try
        {
            var history = root["epochs"]!.AsArray().Select(e => new EpochMetrics(
                (int)e!["epoch"]!, (double)e["loss"]!, (double)e["accuracy"]!, (double?)e["valLoss"], (double?)e["valAccuracy"],
                (double)e["learningRate"]!, (double)e["seconds"]!)).ToList();
            return (history, (int)root["bestEpoch"]!, (bool)root["stoppedEarly"]!);
        }
        catch (Exception e) when (e is NullReferenceException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"'{path}' is not a training history written by mlconv train: {e.Message}", e);
        }
    }
}
