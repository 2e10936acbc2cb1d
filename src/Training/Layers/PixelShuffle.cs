using System.Text.Json.Nodes;
using MLConv.Training.Tensors;

namespace MLConv.Training.Layers;

/// <summary>
/// [N, C·r², H, W] → [N, C, H·r, W·r]: y[n, c, h·r + i, w·r + j] = x[n, c·r² + i·r + j, h, w] (PyTorch PixelShuffle; ONNX
/// DepthToSpace in CRD mode). A permutation: backward moves dy back the same way.
/// </summary>
public sealed class PixelShuffle : Layer
{
    private Tensor? _y, _dx;
    private int[]? _inShape;

    /// <summary>A pixel shuffle by factor r = <paramref name="upscaleFactor"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="upscaleFactor"/> is below 1.</exception>
    public PixelShuffle(int upscaleFactor)
    {
        if (upscaleFactor < 1) throw new ArgumentOutOfRangeException(nameof(upscaleFactor), upscaleFactor, "upscaleFactor must be >= 1.");
        UpscaleFactor = upscaleFactor;
    }

    /// <summary>r: C·r² channels become C, H and W grow r times.</summary>
    public int UpscaleFactor { get; }

    /// <inheritdoc/>
    public override int[] OutputShape(int[] inputShape)
    {
        CheckRank(inputShape, 4, "PixelShuffle");
        int r = UpscaleFactor;
        if (inputShape[1] % (r * r) != 0)
            throw new ArgumentException($"PixelShuffle({r}) needs a channel count divisible by {r * r}; got [{string.Join(", ", inputShape)}].", "x");
        return [inputShape[0], inputShape[1] / (r * r), inputShape[2] * r, inputShape[3] * r];
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor x, bool training)
    {
        CheckRank(x, 4, "PixelShuffle");
        _inShape = x.ShapeArray;
        var y = Tensor.Reuse(ref _y, OutputShape(_inShape));
        Move(x.Data, y.Data, x.N, y.C, x.H, x.W, toOutput: true);
        return y;
    }

    /// <inheritdoc/>
    public override Tensor Backward(Tensor dy)
    {
        CheckSameShape(dy, _y, "PixelShuffle");
        var dx = Tensor.Reuse(ref _dx, _inShape!);
        Move(dy.Data, dx.Data, dx.N, dy.C, dx.H, dx.W, toOutput: false);
        return dx;
    }

    /// <summary>Copies each input row x[n, c·r² + i·r + j, h, :] to the output row y[n, c, h·r + i, j::r], or back.</summary>
    private void Move(float[] from, float[] to, int n, int c, int h, int w, bool toOutput)
    {
        int r = UpscaleFactor, ow = w * r, plane = h * w;
        for (int b = 0; b < n; b++)
        for (int ch = 0; ch < c; ch++)
        for (int i = 0; i < r; i++)
        for (int j = 0; j < r; j++)
        {
            int src = ((b * c + ch) * r * r + i * r + j) * plane, dstPlane = (b * c + ch) * plane * r * r;
            for (int row = 0; row < h; row++)
            {
                int xo = src + row * w, yo = dstPlane + (row * r + i) * ow + j;
                if (toOutput) for (int col = 0; col < w; col++) to[yo + col * r] = from[xo + col];
                else for (int col = 0; col < w; col++) to[xo + col] = from[yo + col * r];
            }
        }
    }

    /// <inheritdoc/>
    public override JsonObject ToSpec() => new() { ["type"] = TypeName, ["upscaleFactor"] = UpscaleFactor };
    /// <summary>Rebuilds a <see cref="PixelShuffle"/> from <paramref name="spec"/>, the JSON its <see cref="Layer.ToSpec"/> writes (<see cref="LayerFactory"/> calls this).</summary>
    public static PixelShuffle FromSpec(JsonObject spec) => new(Spec.Int(spec, "upscaleFactor"));
    /// <inheritdoc/>
    public override string ToString() => $"PixelShuffle(upscale_factor={UpscaleFactor})";
}
