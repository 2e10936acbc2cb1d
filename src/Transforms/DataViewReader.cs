using Microsoft.ML;
using Microsoft.ML.Data;
using MLConv.Training.Tensors;

namespace MLConv.Transforms;

/// <summary>Reads the features and labels of an IDataView into a tensor [N, C, H, W] and class indices.</summary>
internal static class DataViewReader
{
    /// <summary>
    /// Class names of a key label column: its key values in key order, formatted with the invariant culture (text keys as
    /// they are, integer keys such as MapValueToKey over digits as "0".."9"); "0".."K−1" when the key has no values.
    /// Null when the label is not a key.
    /// </summary>
    public static string[]? KeyNames(DataViewSchema.Column label)
    {
        if (label.Type is not KeyDataViewType key) return null;
        int count = checked((int)key.Count);
        var kv = label.Annotations.Schema.GetColumnOrNull("KeyValues");
        string[]? names = kv?.Type is VectorDataViewType { ItemType: var item } ? item.RawType switch
        {
            var t when t == typeof(ReadOnlyMemory<char>) => Values<ReadOnlyMemory<char>>(label, v => v.ToString()),
            var t when t == typeof(int) => Values<int>(label, Format),
            var t when t == typeof(uint) => Values<uint>(label, Format),
            var t when t == typeof(long) => Values<long>(label, Format),
            var t when t == typeof(ulong) => Values<ulong>(label, Format),
            var t when t == typeof(short) => Values<short>(label, Format),
            var t when t == typeof(ushort) => Values<ushort>(label, Format),
            var t when t == typeof(byte) => Values<byte>(label, Format),
            var t when t == typeof(sbyte) => Values<sbyte>(label, Format),
            var t when t == typeof(float) => Values<float>(label, Format),
            var t when t == typeof(double) => Values<double>(label, Format),
            var t when t == typeof(bool) => Values<bool>(label, v => v.ToString()),
            _ => null,
        } : null;
        return names is { Length: > 0 } && names.Length == count
            ? names
            : [.. Enumerable.Range(0, count).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture))];
    }

    private static string Format<T>(T v) where T : IFormattable => v.ToString(null, System.Globalization.CultureInfo.InvariantCulture);

    private static string[] Values<T>(DataViewSchema.Column label, Func<T, string> format)
    {
        VBuffer<T> values = default;
        label.GetKeyValues(ref values);
        return [.. values.DenseValues().Select(format)];
    }

    public static (Tensor Images, int[] Labels, int MaxLabel) Read(IDataView data, CnnTrainerOptions o, string what)
    {
        SchemaChecks.Check(o, data.Schema);
        var fcol = data.Schema[o.FeatureColumnName];
        var lcol = data.Schema[o.LabelColumnName];
        int sample = o.Channels * o.ImageHeight * o.ImageWidth;
        var pixels = new List<float>();
        var labels = new List<int>();
        using var cursor = data.GetRowCursor([fcol, lcol]);
        var fget = cursor.GetGetter<VBuffer<float>>(fcol);
        var lget = LabelGetter(cursor, lcol);
        VBuffer<float> buf = default;
        long row = 0;
        while (cursor.MoveNext())
        {
            fget(ref buf);
            long label = lget();
            if (label < 0)
                throw new InvalidDataException($"{what} row {row}: label column '{o.LabelColumnName}' is missing (key 0) or negative; every row needs a label.");
            int start = pixels.Count;
            if (buf.IsDense) pixels.AddRange(buf.GetValues());
            else foreach (float v in buf.DenseValues()) pixels.Add(v);
            for (int i = start; i < pixels.Count; i++)
                if (!float.IsFinite(pixels[i]))
                    throw new InvalidDataException($"{what} row {row}: features column '{o.FeatureColumnName}' holds {pixels[i]} at slot {i - start}; pixels must be finite.");
            labels.Add(checked((int)label));
            row++;
        }
        if (labels.Count == 0) throw new ArgumentException($"{what} is empty: TrainCnn needs at least one row.", nameof(data));
        var t = new Tensor([labels.Count, o.Channels, o.ImageHeight, o.ImageWidth], [.. pixels]);
        return (t, [.. labels], labels.Max());
    }

    /// <summary>A getter returning the 0-based class of the row (keys are 1-based, 0 = missing → −1).</summary>
    private static Func<long> LabelGetter(DataViewRowCursor cursor, DataViewSchema.Column col)
    {
        var t = col.Type;
        if (t is KeyDataViewType k)
        {
            if (k.RawType == typeof(uint)) { var g = cursor.GetGetter<uint>(col); uint v = 0; return () => { g(ref v); return (long)v - 1; }; }
            if (k.RawType == typeof(ulong)) { var g = cursor.GetGetter<ulong>(col); ulong v = 0; return () => { g(ref v); return (long)v - 1; }; }
            if (k.RawType == typeof(ushort)) { var g = cursor.GetGetter<ushort>(col); ushort v = 0; return () => { g(ref v); return (long)v - 1; }; }
            { var g = cursor.GetGetter<byte>(col); byte v = 0; return () => { g(ref v); return (long)v - 1; }; }
        }
        if (t == NumberDataViewType.Int32) { var g = cursor.GetGetter<int>(col); int v = 0; return () => { g(ref v); return v; }; }
        if (t == NumberDataViewType.UInt32) { var g = cursor.GetGetter<uint>(col); uint v = 0; return () => { g(ref v); return v; }; }
        if (t == NumberDataViewType.Int64) { var g = cursor.GetGetter<long>(col); long v = 0; return () => { g(ref v); return v; }; }
        if (t == NumberDataViewType.UInt64) { var g = cursor.GetGetter<ulong>(col); ulong v = 0; return () => { g(ref v); return checked((long)v); }; }
        if (t == NumberDataViewType.Int16) { var g = cursor.GetGetter<short>(col); short v = 0; return () => { g(ref v); return v; }; }
        if (t == NumberDataViewType.UInt16) { var g = cursor.GetGetter<ushort>(col); ushort v = 0; return () => { g(ref v); return v; }; }
        if (t == NumberDataViewType.SByte) { var g = cursor.GetGetter<sbyte>(col); sbyte v = 0; return () => { g(ref v); return v; }; }
        { var g = cursor.GetGetter<byte>(col); byte v = 0; return () => { g(ref v); return v; }; }
    }
}
