using MLConv.Training.Layers;
using MLConv.Training.Models;
using MLConv.Training.Tensors;
using SkiaSharp;

namespace MLConv.Plots;

/// <summary>One stage's activations for one image: <see cref="Activations"/> is [1, C, H, W].</summary>
/// <param name="Name">Where in the network: the layer's position in the flattened top-level chain and its type.</param>
/// <param name="Activations">The output of the stage's last layer, copied.</param>
public sealed record FeatureMapStage(string Name, Tensor Activations);

/// <summary>
/// What the network sees in one image, stage by stage. A stage is a run of consecutive layers of the network's top-level
/// chain (nested <see cref="Sequential"/>s flattened) whose outputs are [1, C, H, W] maps of one spatial size; its picture
/// is the output of the run's last layer — LeNet-5 on 28x28 digits gives 28x28 (after the first ReLU), 14x14 (pooled),
/// 10x10 and 5x5. Not thread-safe with other uses of the same network (its layers keep their buffers).
/// </summary>
public static class FeatureMaps
{
    /// <summary>The stages' activations for <paramref name="pixels"/>, one raw (un-normalised) image [1, C, H, W], in inference mode.</summary>
    /// <exception cref="ArgumentException">The image is not [1, C, H, W] with the network's input shape.</exception>
    public static IReadOnlyList<FeatureMapStage> Stages(Network network, Tensor pixels)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(pixels);
        if (pixels.Rank != 4 || pixels.N != 1)
            throw new ArgumentException($"pixels must hold one image [1, {network.Channels}, {network.Height}, {network.Width}]; got [{pixels.ShapeString}].", nameof(pixels));
        var x = pixels.Clone();
        network.Normalize(x);
        var stages = new List<FeatureMapStage>();
        int index = 0;
        foreach (var layer in Flatten(network.Root))
        {
            x = layer.Forward(x, training: false);
            index++;
            if (x.Rank != 4) continue;
            var stage = new FeatureMapStage($"layer {index} ({layer.TypeName})", x.Clone());
            if (stages.Count > 0 && stages[^1].Activations.H == x.H && stages[^1].Activations.W == x.W) stages[^1] = stage;
            else stages.Add(stage);
        }
        return stages;
    }

    /// <summary>
    /// Draws the input image and, per stage, the first <paramref name="maxChannels"/> channels (each scaled from its own
    /// minimum, black, to its maximum, white) at <paramref name="cellSize"/> pixels.
    /// </summary>
    public static SKBitmap Render(Network network, Tensor pixels, int maxChannels = 8, int cellSize = 64, string? title = null)
    {
        if (maxChannels < 1 || maxChannels > 64) throw new ArgumentOutOfRangeException(nameof(maxChannels), maxChannels, "maxChannels must be in [1, 64].");
        if (cellSize < 4 || cellSize > 512) throw new ArgumentOutOfRangeException(nameof(cellSize), cellSize, "cellSize must be in [4, 512] pixels.");
        var stages = Stages(network, pixels);
        int plane = pixels.H * pixels.W;
        ReadOnlySpan<float> In(int c) => pixels.Data.AsSpan(c * plane, plane);
        var rows = new List<(string, IReadOnlyList<Tile>)>
        {
            ($"input [{pixels.C}, {pixels.H}, {pixels.W}]", [pixels.C == 3 ? Tile.Color(In(0), In(1), In(2), pixels.W, pixels.H, symmetric: false) : Tile.Gray(In(0), pixels.W, pixels.H, symmetric: false)]),
        };
        foreach (var s in stages)
        {
            var a = s.Activations;
            int shown = Math.Min(a.C, maxChannels), p = a.H * a.W;
            rows.Add(($"{s.Name}: [{a.C}, {a.H}, {a.W}]" + (a.C > shown ? $", first {shown} channels" : ""),
                [.. Enumerable.Range(0, shown).Select(c => Tile.Gray(a.Data.AsSpan(c * p, p), a.W, a.H, symmetric: false))]));
        }
        return TileSheet.Render(title ?? $"Feature maps of {network.Architecture}", rows, cellSize, maxChannels);
    }

    /// <summary>Writes <see cref="Render"/> as a PNG (atomically).</summary>
    public static void Write(Network network, Tensor pixels, string path, int maxChannels = 8, int cellSize = 64)
    {
        using var bitmap = Render(network, pixels, maxChannels, cellSize);
        ChartFile.SavePng(bitmap, path);
    }

    private static IEnumerable<Layer> Flatten(Layer layer) => layer is Sequential s ? s.Layers.SelectMany(Flatten) : [layer];
}
