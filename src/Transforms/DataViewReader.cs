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

    /// <summary>
    /// The rows of <paramref name="data"/> as the trainer's dataset: images [N, C, H, W] and 0-based labels, each row's
    /// pixels copied from the cursor straight into the tensor. <paramref name="what"/> names the data in error messages.
    /// </summary>
    public static (Tensor Images, int[] Labels, int MaxLabel) Read(IDataView data, CnnTrainerOptions o, ImageShape shape, string what)
    {
        SchemaChecks.CheckFeatures(o.FeatureColumnName, data.Schema, shape);
        SchemaChecks.CheckLabel(o, data.Schema);
        var fcol = data.Schema[o.FeatureColumnName];
        var lcol = data.Schema[o.LabelColumnName];
        int n = CountRows(data, int.MaxValue);
        if (n == 0) throw new ArgumentException($"{what} is empty: TrainCnn needs at least one row.", nameof(data));
        var images = new Tensor(n, shape.Channels, shape.Height, shape.Width);
        var labels = new int[n];
        using var cursor = data.GetRowCursor([fcol, lcol]);
        var lget = LabelGetter(cursor, lcol);
        Fill(cursor, fcol, images, wholeView: true, what, (row, pixels) =>
        {
            long label = lget();
            if (label < 0)
                throw new InvalidDataException($"{what} row {row}: label column '{o.LabelColumnName}' is missing (key 0) or negative; every row needs a label.");
            for (int i = 0; i < pixels.Length; i++)
                if (!float.IsFinite(pixels[i]))
                    throw new InvalidDataException($"{what} row {row}: features column '{o.FeatureColumnName}' holds {pixels[i]} at slot {i}; pixels must be finite.");
            labels[row] = checked((int)label);
        });
        return (images, labels, labels.Max());
    }

    /// <summary>The first <paramref name="maxRows"/> feature vectors of <paramref name="data"/> as images [N, C, H, W].</summary>
    public static Tensor ReadImages(IDataView data, DataViewSchema.Column features, int channels, int height, int width, int maxRows)
    {
        int n = CountRows(data, maxRows);
        if (n == 0) throw new ArgumentException("The data has no rows.", nameof(data));
        var images = new Tensor(n, channels, height, width);
        using var cursor = data.GetRowCursor([features]);
        Fill(cursor, features, images, wholeView: n < maxRows, "The data", null);
        return images;
    }

    /// <summary>
    /// min(rows, <paramref name="maxRows"/>): the view's own count when it knows it, else a pass of a cursor with no
    /// active column, which costs no upstream work (LoadImages and the like compute only what a cursor reads).
    /// </summary>
    private static int CountRows(IDataView data, int maxRows)
    {
        long count = data.GetRowCount() ?? -1;
        if (count < 0)
        {
            count = 0;
            using var cursor = data.GetRowCursor([]);
            while (count < maxRows && cursor.MoveNext()) count++;
        }
        return (int)Math.Min(count, maxRows);
    }

    /// <summary>
    /// Copies the features of the next images.N rows of <paramref name="cursor"/> into images[row] and hands each row's
    /// pixels to <paramref name="onRow"/> (the cursor stands on that row). The cursor must give the rows counted:
    /// no fewer, and no more when <paramref name="wholeView"/>.
    /// </summary>
    private static void Fill(DataViewRowCursor cursor, DataViewSchema.Column features, Tensor images, bool wholeView, string what, Action<int, Span<float>>? onRow)
    {
        var get = cursor.GetGetter<VBuffer<float>>(features);
        VBuffer<float> buf = default;
        int n = images.N, sample = images.C * images.H * images.W, row = 0;
        for (; row < n && cursor.MoveNext(); row++)
        {
            get(ref buf);
            var pixels = images.Data.AsSpan(row * sample, sample);
            buf.CopyTo(pixels);
            onRow?.Invoke(row, pixels);
        }
        if (row < n || (wholeView && cursor.MoveNext()))
            throw new InvalidDataException($"{what} gave {(row < n ? row.ToString(System.Globalization.CultureInfo.InvariantCulture) : "more")} rows where {n} were counted; the view must give the same rows on every cursor.");
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
