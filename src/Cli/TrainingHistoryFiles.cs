using MLConv.Training.Fitting;

namespace MLConv.Cli;

/// <summary>
/// Where a run's history goes next to its model: <c>&lt;model&gt;.history.csv</c> and <c>&lt;model&gt;.history.json</c>,
/// both written (atomically) by <see cref="TrainingHistoryFile"/>.
/// </summary>
internal static class TrainingHistoryFiles
{
    public static string CsvPath(string modelPath) => Path.ChangeExtension(modelPath, ".history.csv");
    public static string JsonPath(string modelPath) => Path.ChangeExtension(modelPath, ".history.json");

    public static void Write(string modelPath, IReadOnlyList<EpochMetrics> history)
    {
        TrainingHistoryFile.WriteCsv(history, CsvPath(modelPath));
        TrainingHistoryFile.WriteJson(history, JsonPath(modelPath));
    }
}
