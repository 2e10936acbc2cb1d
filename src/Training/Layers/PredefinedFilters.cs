namespace MLConv.Training.Layers;

/// <summary>
/// The hand-designed 3x3 filters of classic image processing (the seeds' "predefined filters"), as
/// row-major kernels for <see cref="Conv2d"/> (which computes cross-correlation, as deep-learning
/// frameworks do: a kernel is applied unflipped).
/// </summary>
public static class PredefinedFilters
{
    /// <summary>The filters by name, each 9 weights of a 3x3 kernel in row-major order.</summary>
    public static readonly IReadOnlyDictionary<string, float[]> All = new Dictionary<string, float[]>
    {
        ["vertical"] = [1, 0, -1, 1, 0, -1, 1, 0, -1],
        ["horizontal"] = [1, 1, 1, 0, 0, 0, -1, -1, -1],
        ["sobel_x"] = [-1, 0, 1, -2, 0, 2, -1, 0, 1],
        ["sobel_y"] = [-1, -2, -1, 0, 0, 0, 1, 2, 1],
        ["blur"] = [.. Enumerable.Repeat(1f / 9, 9)],
        ["laplacian"] = [-1, -1, -1, -1, 8, -1, -1, -1, -1],
    };

    /// <summary>A 1→k Conv2d (3x3, "same" zero padding, no bias) holding the named filters as its output channels.</summary>
    public static Conv2d Bank(params string[] names)
    {
        if (names.Length == 0) names = [.. All.Keys];
        var conv = new Conv2d(1, names.Length, 3, padding: Padding.Same, bias: false);
        for (int i = 0; i < names.Length; i++)
        {
            if (!All.TryGetValue(names[i], out var k))
                throw new ArgumentException($"Unknown filter '{names[i]}'; expected one of {string.Join(", ", All.Keys)}.", nameof(names));
            k.CopyTo(conv.Weight.Value.Span.Slice(i * 9, 9));
        }
        return conv;
    }
}
