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
/// The class names are then attached by ML.NET's own MapValue and MapValueToKey.
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
