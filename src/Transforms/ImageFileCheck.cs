using Microsoft.ML;
using Microsoft.ML.Data;
using MLConv.Training.Data;

namespace MLConv.Transforms;

/// <summary>
/// Decodes every image file a training view's path column names with MLConv's strict decoders before training (see
/// <see cref="CnnTrainerOptions.ImagePathColumnName"/>): ML.NET's <c>LoadImages</c> turns a PNG cut short into a complete
/// image with black rows, which a CNN would learn from without a word.
/// </summary>
internal static class ImageFileCheck
{
    /// <summary>Checks every row's file; does nothing when the option is null or the view has no such text column.</summary>
    /// <exception cref="InvalidDataException">A file is damaged (the message names it, its row and the column).</exception>
    public static int Verify(IDataView data, CnnTrainerOptions o, string what)
    {
        if (o.ImagePathColumnName is not { } name || data.Schema.GetColumnOrNull(name) is not { } column
            || column.Type is not TextDataViewType) return 0;
        using var cursor = data.GetRowCursor([column]);
        var getter = cursor.GetGetter<ReadOnlyMemory<char>>(column);
        ReadOnlyMemory<char> value = default;
        int row = 0;
        while (cursor.MoveNext())
        {
            o.CancellationToken.ThrowIfCancellationRequested();
            getter(ref value);
            string path = value.ToString();
            if (path.Length > 0)
            {
                string full = o.ImageFolder is null ? path : Path.Combine(o.ImageFolder, path);
                // A file that is not there is LoadImages' to report (its message, with the row count, is passed on).
                if (!File.Exists(full)) { row++; continue; }
                try { ImageDecoder.Read(full); }
                catch (InvalidDataException e)
                {
                    throw new InvalidDataException(
                        $"{what} row {row}: the image file in column '{name}' is damaged, and ML.NET's LoadImages would pass it on as a " +
                        $"complete image: {e.Message} (set CnnTrainerOptions.ImagePathColumnName = null to skip this check).", e);
                }
            }
            row++;
        }
        return row;
    }
}
