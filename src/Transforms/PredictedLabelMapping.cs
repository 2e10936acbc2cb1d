using Microsoft.ML.Data;
using Microsoft.ML.Transforms;

namespace MLConv.Transforms;

/// <summary>Input row of the arg-max mapping: the Score vector.</summary>
public sealed class ScoreRow
{
    [VectorType]
    [ColumnName(CnnTransformer.ProbabilitiesColumn)]
    public float[] Score { get; set; } = [];
}

/// <summary>Output row of the arg-max mapping: the 0-based index of the largest score.</summary>
public sealed class PredictedIndexRow
{
    [ColumnName(CnnTransformer.IndexColumn)]
    public uint PredictedIndex { get; set; }
}

/// <summary>
/// The one piece of the fitted pipeline ML.NET lacks: arg-max of a score vector (the first on ties, as
/// ML.NET's own scorers). Registered under a contract name so <c>mlContext.Model.Load</c> finds it.
/// The class names are then attached by ML.NET's own MapValue and MapValueToKey. Models written before the scoring
/// graph carried <see cref="ScoringSafeguards"/> use it; new ones use <see cref="CheckedPredictedIndex"/>.
/// </summary>
[CustomMappingFactoryAttribute(ContractName)]
public sealed class PredictedIndexMappingFactory : CustomMappingFactory<ScoreRow, PredictedIndexRow>
{
    public const string ContractName = "MLConv.PredictedIndex";

    public static void Map(ScoreRow input, PredictedIndexRow output)
    {
        output.PredictedIndex = (uint)Training.Tensors.Rows.ArgMax(input.Score);
    }

    public override Action<ScoreRow, PredictedIndexRow> GetMapping() => Map;
}

/// <summary>Input row of the checked arg-max mapping: the Score vector and the scoring graph's weights check (<see cref="ScoringSafeguards"/>).</summary>
public sealed class CheckedScoreRow
{
    [VectorType]
    [ColumnName(CnnTransformer.ProbabilitiesColumn)]
    public float[] Score { get; set; } = [];

    [VectorType(1)]
    [ColumnName(CnnTransformer.IntegrityColumn)]
    public float[] Integrity { get; set; } = [];
}

/// <summary>
/// The arg-max of models that carry <see cref="ScoringSafeguards"/>: throws when the weights check failed (the saved
/// model was changed after TrainCnn wrote it), and for a row with NaN scores — a row whose features hold NaN or ±∞ —
/// either throws (<see cref="NonFiniteFeatures.Reject"/>) or gives no class (<see cref="NonFiniteFeatures.Flag"/>:
/// an index past the classes, which MapValue and MapValueToKey turn into a missing PredictedLabel).
/// </summary>
public static class CheckedPredictedIndex
{
    /// <summary>The index of "no class": no class name is mapped from it.</summary>
    public const uint NoClass = uint.MaxValue;

    public static void Map(CheckedScoreRow input, PredictedIndexRow output, NonFiniteFeatures policy)
    {
        if (input.Integrity.Length != 1 || input.Integrity[0] != 1f)
            throw new InvalidDataException(
                "The ONNX model inside this ML.NET model fails MLConv's weights checksum: its weights changed after TrainCnn wrote them " +
                "(the model file is corrupted). Retrain or restore the file from a good copy.");
        var score = input.Score;
        for (int i = 0; i < score.Length; i++)
        {
            if (!float.IsNaN(score[i])) continue;
            if (policy == NonFiniteFeatures.Reject)
                throw new InvalidDataException(
                    "A row's features hold NaN or an infinity, which a CNN cannot score (TrainCnn's NonFiniteFeatures = Reject). " +
                    "Clean the pixels, or set NonFiniteFeatures = Flag to get NaN scores and a missing PredictedLabel for such rows.");
            output.PredictedIndex = NoClass;
            return;
        }
        output.PredictedIndex = (uint)Training.Tensors.Rows.ArgMax(score);
    }
}

/// <summary><see cref="CheckedPredictedIndex"/> with <see cref="NonFiniteFeatures.Reject"/> (the default).</summary>
[CustomMappingFactoryAttribute(ContractName)]
public sealed class RejectingPredictedIndexMappingFactory : CustomMappingFactory<CheckedScoreRow, PredictedIndexRow>
{
    public const string ContractName = "MLConv.PredictedIndex.Checked.RejectNonFinite";

    public static void Map(CheckedScoreRow input, PredictedIndexRow output) => CheckedPredictedIndex.Map(input, output, NonFiniteFeatures.Reject);

    public override Action<CheckedScoreRow, PredictedIndexRow> GetMapping() => Map;
}

/// <summary><see cref="CheckedPredictedIndex"/> with <see cref="NonFiniteFeatures.Flag"/>.</summary>
[CustomMappingFactoryAttribute(ContractName)]
public sealed class FlaggingPredictedIndexMappingFactory : CustomMappingFactory<CheckedScoreRow, PredictedIndexRow>
{
    public const string ContractName = "MLConv.PredictedIndex.Checked.FlagNonFinite";

    public static void Map(CheckedScoreRow input, PredictedIndexRow output) => CheckedPredictedIndex.Map(input, output, NonFiniteFeatures.Flag);

    public override Action<CheckedScoreRow, PredictedIndexRow> GetMapping() => Map;
}
