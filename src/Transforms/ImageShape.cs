using System.Globalization;
using Microsoft.ML.Data;

namespace MLConv.Transforms;

/// <summary>The image layout of a features column: planar [Channels, Height, Width] floats.</summary>
internal readonly record struct ImageShape(int Channels, int Height, int Width)
{
    public int Size => Channels * Height * Width;

    public override string ToString() => $"{Channels}x{Height}x{Width}";

    /// <summary>Channel counts a network input may have (gray, RGB, RGBA).</summary>
    public static readonly int[] ChannelCounts = [1, 3, 4];

    /// <summary>
    /// The shape of <paramref name="features"/> (a known-size Single vector; the caller has checked that), each of
    /// <see cref="CnnTrainerOptions.Channels"/>, <see cref="CnnTrainerOptions.ImageHeight"/> and
    /// <see cref="CnnTrainerOptions.ImageWidth"/> that the options leave null read from the column:
    /// <list type="number">
    /// <item>from the column type's dimensions when it has three, [C, H, W] — what <c>ExtractPixels</c> gives its
    /// output (planar, the default; an interleaved column is [H, W, C] and must be described by the options);</item>
    /// <item>otherwise from the vector size: the height and width that the options give, or a square image; the channel
    /// count given, or the one of 1, 3 and 4 that fits — when more than one fits (784 = 1·28·28 = 4·14·14) the
    /// options must say which.</item>
    /// </list>
    /// Values the options give are kept; the shape must then multiply to the vector size.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">No shape, or more than one, fits the column (the message names the column, its type and the options to set).</exception>
    public static ImageShape Resolve(CnnTrainerOptions o, VectorDataViewType features)
    {
        string column = o.FeatureColumnName;
        int size = features.Size;
        int? c = o.Channels, h = o.ImageHeight, w = o.ImageWidth;
        if (features.Dimensions.Length == 3 && features.Dimensions.All(d => d > 0))
        {
            c ??= features.Dimensions[0];
            h ??= features.Dimensions[1];
            w ??= features.Dimensions[2];
        }
        if (c is { } cc && h is { } hh && w is { } ww)
        {
            var shape = new ImageShape(cc, hh, ww);
            if (shape.Size != size || !ChannelCounts.Contains(cc))
                throw new ArgumentOutOfRangeException(nameof(CnnTrainerOptions.FeatureColumnName), column,
                    $"Features column '{column}' has type {features}; expected {SchemaChecks.ExpectedFeatures(shape)}" +
                    (ChannelCounts.Contains(cc) ? "." : $" with Channels 1, 3 or 4 (read {cc})."));
            return shape;
        }

        var fits = (c is { } given ? [given] : ChannelCounts).Select(ch => Fit(size, ch, h, w)).OfType<ImageShape>().ToList();
        string from = $"Features column '{column}' ({features}, {size.ToString(CultureInfo.InvariantCulture)} values)";
        string set = "set CnnTrainerOptions.ImageHeight, ImageWidth and Channels to what ExtractPixels produces";
        return fits.Count switch
        {
            1 => fits[0],
            0 => throw new ArgumentOutOfRangeException(nameof(CnnTrainerOptions.FeatureColumnName), column,
                $"{from} cannot be read as {Describe(c, h, w)} planar image; {set}."),
            _ => throw new ArgumentOutOfRangeException(nameof(CnnTrainerOptions.Channels), column,
                $"{from} is ambiguous: it could be {string.Join(" or ", fits.Select(f => $"{f.Channels} channel{(f.Channels == 1 ? "" : "s")} of {f.Height}x{f.Width}"))}; {set}."),
        };
    }

    /// <summary>The shape with <paramref name="channels"/> that the known sides allow (a square when neither is known), or null.</summary>
    private static ImageShape? Fit(int size, int channels, int? height, int? width)
    {
        if (size % channels != 0) return null;
        int plane = size / channels;
        if (height is { } h && width is { } w) return h * w == plane ? new ImageShape(channels, h, w) : null;
        if (height is { } hh) return hh > 0 && plane % hh == 0 ? new ImageShape(channels, hh, plane / hh) : null;
        if (width is { } ww) return ww > 0 && plane % ww == 0 ? new ImageShape(channels, plane / ww, ww) : null;
        int side = (int)Math.Round(Math.Sqrt(plane));
        return side * side == plane ? new ImageShape(channels, side, side) : null;
    }

    private static string Describe(int? c, int? h, int? w) =>
        $"a{(c is { } cc ? $" {cc}-channel" : " 1-, 3- or 4-channel")} {(h is null && w is null ? "square" : $"{h?.ToString(CultureInfo.InvariantCulture) ?? "?"}x{w?.ToString(CultureInfo.InvariantCulture) ?? "?"}")}";
}
