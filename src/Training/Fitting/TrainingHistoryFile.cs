using System.Globalization;
using System.Text;
using System.Text.Json;
using MLConv.Training.Data;

namespace MLConv.Training.Fitting;

/// <summary>
/// A run's history (<see cref="TrainingResult.History"/>, one <see cref="EpochMetrics"/> per finished epoch) as CSV or
/// JSON, written atomically, numbers in the invariant culture and at full precision ("R"), an epoch without validation
/// data leaving its validation cells empty (CSV) or null (JSON). Both forms read back to equal records.
/// </summary>
public static class TrainingHistoryFile
{
    /// <summary>The CSV header, in <see cref="EpochMetrics"/>'s order.</summary>
    public const string CsvHeader = "epoch,loss,accuracy,validation_loss,validation_accuracy,learning_rate,seconds";

    /// <summary>Writes <paramref name="history"/> as CSV (<see cref="CsvHeader"/>, then one line per epoch).</summary>
    public static void WriteCsv(IEnumerable<EpochMetrics> history, string path)
    {
        ArgumentNullException.ThrowIfNull(history);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var text = new StringBuilder(CsvHeader).Append('\n');
        foreach (var m in history)
            text.Append(m.Epoch.ToString(CultureInfo.InvariantCulture)).Append(',').Append(Format(m.Loss)).Append(',').Append(Format(m.Accuracy))
                .Append(',').Append(Format(m.ValidationLoss)).Append(',').Append(Format(m.ValidationAccuracy))
                .Append(',').Append(Format(m.LearningRate)).Append(',').Append(Format(m.Seconds)).Append('\n');
        AtomicFile.Write(path, Encoding.UTF8.GetBytes(text.ToString()));
    }

    /// <summary>Writes <paramref name="history"/> as a JSON object <c>{"epochs": [{"epoch": 1, "loss": ..., ...}, ...]}</c>.</summary>
    public static void WriteJson(IEnumerable<EpochMetrics> history, string path)
    {
        ArgumentNullException.ThrowIfNull(history);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        AtomicFile.Write(path, stream =>
        {
            using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
            w.WriteStartObject();
            w.WriteStartArray("epochs");
            foreach (var m in history)
            {
                w.WriteStartObject();
                w.WriteNumber("epoch", m.Epoch);
                w.WriteNumber("loss", m.Loss);
                w.WriteNumber("accuracy", m.Accuracy);
                Write(w, "validation_loss", m.ValidationLoss);
                Write(w, "validation_accuracy", m.ValidationAccuracy);
                w.WriteNumber("learning_rate", m.LearningRate);
                w.WriteNumber("seconds", m.Seconds);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        });
    }

    /// <summary>Reads a file written by <see cref="WriteCsv"/>.</summary>
    /// <exception cref="InvalidDataException">The header or a line is not what <see cref="WriteCsv"/> writes (the message names the file and line).</exception>
    public static IReadOnlyList<EpochMetrics> ReadCsv(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var lines = File.ReadAllLines(path);
        if (lines.Length == 0 || lines[0] != CsvHeader)
            throw new InvalidDataException($"'{path}' is not a training history CSV: its first line must be '{CsvHeader}'.");
        var history = new List<EpochMetrics>();
        for (int i = 1; i < lines.Length; i++)
        {
            if (lines[i].Length == 0) continue;
            var f = lines[i].Split(',');
            try
            {
                if (f.Length != 7) throw new FormatException($"{f.Length} fields where 7 were expected");
                history.Add(new EpochMetrics(int.Parse(f[0], CultureInfo.InvariantCulture), Parse(f[1]), Parse(f[2]), ParseOptional(f[3]), ParseOptional(f[4]),
                    Parse(f[5]), Parse(f[6])));
            }
            catch (FormatException e)
            {
                throw new InvalidDataException($"'{path}' line {i + 1}: {e.Message}.", e);
            }
        }
        return history;
    }

    /// <summary>Reads a file written by <see cref="WriteJson"/>.</summary>
    /// <exception cref="InvalidDataException">The file is not such a JSON object (the message names the file).</exception>
    public static IReadOnlyList<EpochMetrics> ReadJson(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            return [.. doc.RootElement.GetProperty("epochs").EnumerateArray().Select(e => new EpochMetrics(
                e.GetProperty("epoch").GetInt32(), e.GetProperty("loss").GetDouble(), e.GetProperty("accuracy").GetDouble(),
                Optional(e, "validation_loss"), Optional(e, "validation_accuracy"), e.GetProperty("learning_rate").GetDouble(), e.GetProperty("seconds").GetDouble()))];
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"'{path}' is not a training history JSON ({{\"epochs\": [{{\"epoch\", \"loss\", ...}}]}}): {e.Message}", e);
        }
    }

    private static string Format(double v) => v.ToString("R", CultureInfo.InvariantCulture);

    private static string Format(double? v) => v is { } x ? Format(x) : "";

    private static double Parse(string s) => double.Parse(s, NumberStyles.Float, CultureInfo.InvariantCulture);

    private static double? ParseOptional(string s) => s.Length == 0 ? null : Parse(s);

    private static void Write(Utf8JsonWriter w, string name, double? v)
    {
        if (v is { } x) w.WriteNumber(name, x);
        else w.WriteNull(name);
    }

    private static double? Optional(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v.GetDouble() : null;
}
