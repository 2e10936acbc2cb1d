using Microsoft.ML;
using Microsoft.ML.Data;
using MLConv.Training.Tensors;

namespace MLConv.Transforms;

/// <summary>Reads the features and labels of an IDataView into a tensor [N, C, H, W] and class indices.</summary>
internal static class DataViewReader
{
    /// <summary>Class names of the label column: its key values when it is a key with text values, else "0".."K−1".</summary>
    public static string[]? KeyNames(DataViewSchema.Column label)
    {
        if (label.Type is not KeyDataViewType key) return null;
        var kv = label.Annotations.Schema.GetColumnOrNull("KeyValues");
        int count = checked((int)key.Count);
        if (kv is null) return [.. Enumerable.Range(0, count).Select(i => (i + 1).ToString(System.Globalization.CultureInfo.InvariantCulture))];
        if (kv.Value.Type is VectorDataViewType { ItemType: TextDataViewType })
        {
            VBuffer<ReadOnlyMemory<char>> values = default;
            label.GetKeyValues(ref values);
            return [.. values.DenseValues().Select(v => v.ToString())];
        }
        // Non-text key values: name keys by their values' string form.
        return [.. Enumerable.Range(0, count).Select(i => (i + 1).ToString(System.Globalization.CultureInfo.InvariantCulture))];
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
            foreach (float v in buf.DenseValues()) pixels.Add(v);
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
