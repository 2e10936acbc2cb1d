using System.Reflection;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLConv.Transforms;

/// <summary>Input-schema validation shared by the estimator's GetOutputSchema and Fit, with messages that name the column, the type found and the type expected.</summary>
internal static class SchemaChecks
{
    public static string ExpectedFeatures(ImageShape s) =>
        $"a known-size vector of Single with {s.Channels}·{s.Height}·{s.Width} = {s.Size} values (planar CHW pixels, as ExtractPixels writes)";

    public const string ExpectedAnyFeatures = "a known-size vector of Single (planar CHW pixels, as ExtractPixels writes)";

    public const string ExpectedLabel = "a key type or an integer type (Byte, SByte, Int16, UInt16, Int32, UInt32, Int64, UInt64)";

    /// <summary>The features column's type: a known-size Single vector, or an exception naming the column and what was found.</summary>
    public static VectorDataViewType FeatureType(string name, DataViewSchema schema)
    {
        var f = schema.GetColumnOrNull(name)
            ?? throw new ArgumentOutOfRangeException(nameof(CnnTrainerOptions.FeatureColumnName), name, $"Features column '{name}' not found; expected {ExpectedAnyFeatures}.");
        if (f.Type is not VectorDataViewType { IsKnownSize: true } ft || ft.ItemType != NumberDataViewType.Single)
            throw new ArgumentOutOfRangeException(nameof(CnnTrainerOptions.FeatureColumnName), name, $"Features column '{name}' has type {f.Type}; expected {ExpectedAnyFeatures}.");
        return ft;
    }

    /// <summary>The features column holds images of <paramref name="shape"/>.</summary>
    public static void CheckFeatures(string name, DataViewSchema schema, ImageShape shape)
    {
        var ft = schema.GetColumnOrNull(name)?.Type as VectorDataViewType;
        if (ft is null || ft.ItemType != NumberDataViewType.Single || ft.Size != shape.Size)
            throw new ArgumentOutOfRangeException(nameof(CnnTrainerOptions.FeatureColumnName), name, schema.GetColumnOrNull(name) is { } f
                ? $"Features column '{name}' has type {f.Type}; expected {ExpectedFeatures(shape)}."
                : $"Features column '{name}' not found; expected {ExpectedFeatures(shape)}.");
    }

    public static void CheckLabel(string name, bool found, bool ok, string typeFound)
    {
        if (!found) throw new ArgumentOutOfRangeException(nameof(CnnTrainerOptions.LabelColumnName), name, $"Label column '{name}' not found; expected {ExpectedLabel}.");
        if (!ok) throw new ArgumentOutOfRangeException(nameof(CnnTrainerOptions.LabelColumnName), name, $"Label column '{name}' has type {typeFound}; expected {ExpectedLabel}.");
    }

    public static bool IsIntegerType(DataViewType t) =>
        t == NumberDataViewType.Byte || t == NumberDataViewType.SByte || t == NumberDataViewType.Int16 || t == NumberDataViewType.UInt16 ||
        t == NumberDataViewType.Int32 || t == NumberDataViewType.UInt32 || t == NumberDataViewType.Int64 || t == NumberDataViewType.UInt64;

    /// <summary>Checks the label and the features of <paramref name="schema"/> and returns the image shape (<see cref="ImageShape.Resolve"/>).</summary>
    public static ImageShape Check(CnnTrainerOptions o, DataViewSchema schema)
    {
        var shape = ImageShape.Resolve(o, FeatureType(o.FeatureColumnName, schema));
        CheckLabel(o, schema);
        return shape;
    }

    public static void CheckLabel(CnnTrainerOptions o, DataViewSchema schema)
    {
        var l = schema.GetColumnOrNull(o.LabelColumnName);
        CheckLabel(o.LabelColumnName, l is not null, l is { } c && (c.Type is KeyDataViewType || IsIntegerType(c.Type)), l?.Type.ToString() ?? "");
    }

    public static void Check(CnnTrainerOptions o, SchemaShape shape)
    {
        // SchemaShape knows "vector of known size" but not the size itself: Fit reads the size and the image shape.
        string name = o.FeatureColumnName;
        if (!TryFind(shape, name, out var f))
            throw new ArgumentOutOfRangeException(nameof(CnnTrainerOptions.FeatureColumnName), name, $"Features column '{name}' not found; expected {ExpectedAnyFeatures}.");
        if (f.Kind != SchemaShape.Column.VectorKind.Vector || f.ItemType != NumberDataViewType.Single)
            throw new ArgumentOutOfRangeException(nameof(CnnTrainerOptions.FeatureColumnName), name, $"Features column '{name}' has type {f.Kind} of {f.ItemType}; expected {ExpectedAnyFeatures}.");
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
