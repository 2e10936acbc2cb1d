using MLConv.Training.Layers;
using MLConv.Training.Models;
using SkiaSharp;

namespace MLConv.Plots;

/// <summary>
/// The weights of a convolution as a grid of small pictures, one per filter: RGB when the filter reads three channels
/// (an RGB network's first convolution), grey otherwise — one row per filter with a tile per input channel when it reads
/// more than one. Mid-grey is 0, white and black the largest positive and negative weight of the whole layer, so filters
/// compare with each other.
/// </summary>
public static class FilterGrid
{
    /// <summary>Filters drawn at most (the first ones).</summary>
    public const int MaxFilters = 64;
    /// <summary>Input channels drawn at most per filter (the first ones).</summary>
    public const int MaxInputChannels = 16;

    /// <summary>The first <see cref="Conv2d"/> of <paramref name="network"/> in layer order.</summary>
    /// <exception cref="ArgumentException">The network has no convolution.</exception>
    public static Conv2d FirstConvolution(Network network)
    {
        ArgumentNullException.ThrowIfNull(network);
        return network.Root.Descendants().OfType<Conv2d>().FirstOrDefault()
            ?? throw new ArgumentException($"The network ({network.Architecture}) has no Conv2d layer whose filters could be drawn.", nameof(network));
    }

    /// <summary>Draws <paramref name="conv"/>'s filters, each scaled to <paramref name="cellSize"/> pixels.</summary>
    public static SKBitmap Render(Conv2d conv, int cellSize = 40, string? title = null)
    {
        ArgumentNullException.ThrowIfNull(conv);
        if (cellSize < 4 || cellSize > 512) throw new ArgumentOutOfRangeException(nameof(cellSize), cellSize, "cellSize must be in [4, 512] pixels.");
        var w = conv.Weight.Value;   // [out, in/groups, kh, kw]
        int filters = Math.Min(w.Shape[0], MaxFilters), inputs = w.Shape[1], kh = w.Shape[2], kw = w.Shape[3], plane = kh * kw;
        float range = 0;
        foreach (float v in w.Span) range = Math.Max(range, Math.Abs(v));
        ReadOnlySpan<float> Plane(int f, int c) => w.Data.AsSpan((f * inputs + c) * plane, plane);
        title ??= $"First convolution: {w.Shape[0]} filters {kh}x{kw} over {inputs} channel{(inputs == 1 ? "" : "s")}" +
                  (w.Shape[0] > filters ? $" (first {filters})" : "") + $", weights in ±{range:G3}";

        var rows = new List<(string, IReadOnlyList<Tile>)>();
        if (inputs is 1 or 3)
        {
            var tiles = Enumerable.Range(0, filters).Select(f => inputs == 1
                ? Tile.Gray(Plane(f, 0), kw, kh, symmetric: true, range)
                : Tile.Color(Plane(f, 0), Plane(f, 1), Plane(f, 2), kw, kh, symmetric: true, range)).ToList();
            rows.Add((inputs == 1 ? "filters (grey: 0, white: +, black: −)" : "filters (RGB; mid-grey: 0)", tiles));
            return TileSheet.Render(title, rows, cellSize, Math.Min(filters, 16));
        }
        int shown = Math.Min(inputs, MaxInputChannels);
        for (int f = 0; f < filters; f++)
            rows.Add(($"filter {f}" + (inputs > shown ? $" (first {shown} of {inputs} input channels)" : ""),
                [.. Enumerable.Range(0, shown).Select(c => Tile.Gray(Plane(f, c), kw, kh, symmetric: true, range))]));
        return TileSheet.Render(title, rows, cellSize, shown);
    }

    /// <summary>Writes the filters of <paramref name="network"/>'s first convolution (<see cref="FirstConvolution"/>) as a PNG (atomically).</summary>
    public static void Write(Network network, string path, int cellSize = 40)
    {
        using var bitmap = Render(FirstConvolution(network), cellSize);
        ChartFile.SavePng(bitmap, path);
    }
}
