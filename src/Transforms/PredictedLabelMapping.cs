using Microsoft.ML.Data;
using Microsoft.ML.Transforms;

namespace MLConv.Transforms;

/// <summary>Input row of the arg-max mapping: the Score vector.</summary>
public sealed class ScoreRow
{
    /// <summary>Class probabilities.</summary>
    [VectorType]
    [ColumnName(CnnTransformer.ProbabilitiesColumn)]
    public float[] Score { get; set; } = [];
}

/// <summary>Output row of the arg-max mapping: the 0-based index of the largest score.</summary>
public sealed class PredictedIndexRow
{
    /// <summary>Index of the largest score (the first on ties).</summary>
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
    /// <summary>The name ML.NET saves the mapping under and finds the factory by when loading.</summary>
    public const string ContractName = "MLConv.PredictedIndex";

    /// <summary>Writes the arg-max of <paramref name="input"/>'s scores into <paramref name="output"/>.</summary>
    /// <param name="input">The row's scores.</param>
    /// <param name="output">Receives the index.</param>
    public static void Map(ScoreRow input, PredictedIndexRow output)
    {
        output.PredictedIndex = (uint)Training.Tensors.Rows.ArgMax(input.Score);
    }

    /// <summary>The mapping ML.NET runs: <see cref="Map"/>.</summary>
    public override Action<ScoreRow, PredictedIndexRow> GetMapping() => Map;
}

/// <summary>Input row of the checked arg-max mapping: the Score vector and the scoring graph's weights check (<see cref="ScoringSafeguards"/>).</summary>
public sealed class CheckedScoreRow
{
    /// <summary>The class probabilities (NaN for a non-finite row or a failed weights check).</summary>
    [VectorType]
    [ColumnName(CnnTransformer.ProbabilitiesColumn)]
    public float[] Score { get; set; } = [];

    /// <summary>1 when the scoring graph's weights checksum holds, 0 when the saved model was changed.</summary>
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

    /// <summary>The arg-max of <paramref name="input"/>'s scores into <paramref name="output"/>, under <paramref name="policy"/> for NaN scores.</summary>
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
    /// <summary>The name ML.NET saves and finds this mapping by.</summary>
    public const string ContractName = "MLConv.PredictedIndex.Checked.RejectNonFinite";

    /// <summary>The mapping.</summary>
    public static void Map(CheckedScoreRow input, PredictedIndexRow output) => CheckedPredictedIndex.Map(input, output, NonFiniteFeatures.Reject);

    /// <inheritdoc/>
    public override Action<CheckedScoreRow, PredictedIndexRow> GetMapping() => Map;
}

/// <summary><see cref="CheckedPredictedIndex"/> with <see cref="NonFiniteFeatures.Flag"/>.</summary>
[CustomMappingFactoryAttribute(ContractName)]
public sealed class FlaggingPredictedIndexMappingFactory : CustomMappingFactory<CheckedScoreRow, PredictedIndexRow>
{
    /// <summary>The name ML.NET saves and finds this mapping by.</summary>
    public const string ContractName = "MLConv.PredictedIndex.Checked.FlagNonFinite";

    /// <summary>The mapping.</summary>
    public static void Map(CheckedScoreRow input, PredictedIndexRow output) => CheckedPredictedIndex.Map(input, output, NonFiniteFeatures.Flag);

    /// <inheritdoc/>
    public override Action<CheckedScoreRow, PredictedIndexRow> GetMapping() => Map;
}
