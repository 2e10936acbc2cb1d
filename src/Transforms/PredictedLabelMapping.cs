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
/// The class names are then attached by ML.NET's own MapValue and MapValueToKey.
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
