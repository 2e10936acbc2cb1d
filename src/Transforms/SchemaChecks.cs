using System.Reflection;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLConv.Transforms;

/// <summary>Input-schema validation shared by the estimator's GetOutputSchema and Fit, with messages that name the column, the type found and the type expected.</summary>
internal static class SchemaChecks
{
    public static string ExpectedFeatures(CnnTrainerOptions o) =>
        $"a known-size vector of Single with {o.Channels}·{o.ImageHeight}·{o.ImageWidth} = {o.Channels * o.ImageHeight * o.ImageWidth} values (planar CHW pixels, as ExtractPixels writes)";

    public const string ExpectedLabel = "a key type or an integer type (Byte, SByte, Int16, UInt16, Int32, UInt32, Int64, UInt64)";

    public static void CheckFeatures(CnnTrainerOptions o, string name, bool found, bool isVector, bool isFloat, int size, string typeFound)
    {
        if (!found) throw new ArgumentOutOfRangeException(nameof(CnnTrainerOptions.FeatureColumnName), name, $"Features column '{name}' not found; expected {ExpectedFeatures(o)}.");
        int need = o.Channels * o.ImageHeight * o.ImageWidth;
        if (!isVector || !isFloat || size != need)
            throw new ArgumentOutOfRangeException(nameof(CnnTrainerOptions.FeatureColumnName), name,
                $"Features column '{name}' has type {typeFound}; expected {ExpectedFeatures(o)}.");
    }

    public static void CheckLabel(string name, bool found, bool ok, string typeFound)
    {
        if (!found) throw new ArgumentOutOfRangeException(nameof(CnnTrainerOptions.LabelColumnName), name, $"Label column '{name}' not found; expected {ExpectedLabel}.");
        if (!ok) throw new ArgumentOutOfRangeException(nameof(CnnTrainerOptions.LabelColumnName), name, $"Label column '{name}' has type {typeFound}; expected {ExpectedLabel}.");
    }

    public static bool IsIntegerType(DataViewType t) =>
        t == NumberDataViewType.Byte || t == NumberDataViewType.SByte || t == NumberDataViewType.Int16 || t == NumberDataViewType.UInt16 ||
        t == NumberDataViewType.Int32 || t == NumberDataViewType.UInt32 || t == NumberDataViewType.Int64 || t == NumberDataViewType.UInt64;

    public static void Check(CnnTrainerOptions o, DataViewSchema schema)
    {
        var f = schema.GetColumnOrNull(o.FeatureColumnName);
        var ft = f?.Type as VectorDataViewType;
        CheckFeatures(o, o.FeatureColumnName, f is not null, ft is not null, ft?.ItemType == NumberDataViewType.Single, ft?.Size ?? 0, f?.Type.ToString() ?? "");
        var l = schema.GetColumnOrNull(o.LabelColumnName);
        CheckLabel(o.LabelColumnName, l is not null, l is { } c && (c.Type is KeyDataViewType || IsIntegerType(c.Type)), l?.Type.ToString() ?? "");
    }

    public static void Check(CnnTrainerOptions o, SchemaShape shape)
    {
        bool hasF = TryFind(shape, o.FeatureColumnName, out var f);
        // SchemaShape knows "vector of known size" but not the size itself; Fit checks the size.
        CheckFeatures(o, o.FeatureColumnName, hasF, hasF && f.Kind == SchemaShape.Column.VectorKind.Vector, hasF && f.ItemType == NumberDataViewType.Single,
            hasF && f.Kind == SchemaShape.Column.VectorKind.Vector ? o.Channels * o.ImageHeight * o.ImageWidth : 0,
            hasF ? $"{f.Kind} of {f.ItemType}" : "");
        bool hasL = TryFind(shape, o.LabelColumnName, out var l);
        CheckLabel(o.LabelColumnName, hasL, hasL && l.Kind == SchemaShape.Column.VectorKind.Scalar && (l.IsKey || IsIntegerType(l.ItemType)),
            hasL ? $"{l.Kind} of {l.ItemType}{(l.IsKey ? " (key)" : "")}" : "");
    }

    private static bool TryFind(SchemaShape shape, string name, out SchemaShape.Column column)
    {
        foreach (var c in shape)
            if (c.Name == name) { column = c; return true; }
        column = default;
        return false;
    }

    /// <summary>
    /// SchemaShape.Column's constructor is internal in ML.NET 5, so an outside estimator cannot declare a new
    /// column in GetOutputSchema without reflection (dotnet/machinelearning#4911).
    /// </summary>
    public static SchemaShape.Column NewColumn(string name, SchemaShape.Column.VectorKind kind, DataViewType itemType, bool isKey, SchemaShape? annotations = null)
    {
        var ctor = typeof(SchemaShape.Column).GetConstructors(BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public)
            .Single(c => c.GetParameters().Length == 5);
        return (SchemaShape.Column)ctor.Invoke([name, kind, itemType, isKey, annotations]);
    }
}
