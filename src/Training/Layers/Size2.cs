namespace MLConv.Training.Layers;

/// <summary>A (height, width) pair; an int means the same value for both, as in PyTorch.</summary>
public readonly record struct Size2(int H, int W)
{
    /// <summary>(v, v).</summary>
    public static implicit operator Size2(int v) => new(v, v);
    /// <summary>(H, W) from a tuple.</summary>
    public static implicit operator Size2((int H, int W) v) => new(v.H, v.W);
    /// <inheritdoc/>
    public override string ToString() => H == W ? H.ToString() : $"({H}, {W})";
}

/// <summary>
/// Zero padding of a convolution or pooling window: symmetric per axis (an int or (h, w), as in
/// PyTorch), explicit (top, left, bottom, right), or <see cref="Same"/> (stride 1 only: output size
/// equals input size; an odd total puts the extra row/column at the bottom/right, as PyTorch).
/// </summary>
public readonly record struct Padding(int Top, int Left, int Bottom, int Right, bool IsSame = false)
{
    /// <summary>"Same" padding: resolved per layer so that the output size equals the input size (stride 1).</summary>
    public static Padding Same => new(0, 0, 0, 0, true);
    /// <summary>Padding of the four sides given separately.</summary>
    public static Padding Explicit(int top, int left, int bottom, int right) => new(top, left, bottom, right);
    /// <summary><paramref name="v"/> on all four sides.</summary>
    public static implicit operator Padding(int v) => new(v, v, v, v);
    /// <summary>H rows at the top and bottom, W columns at the left and right.</summary>
    public static implicit operator Padding((int H, int W) v) => new(v.H, v.W, v.H, v.W);

    internal Padding Resolve(Size2 kernel, Size2 stride, Size2 dilation)
    {
        if (!IsSame) return this;
        if (stride.H != 1 || stride.W != 1)
            throw new ArgumentException($"padding: Same requires stride 1; got stride {stride}.", "padding");
        int th = dilation.H * (kernel.H - 1), tw = dilation.W * (kernel.W - 1);
        return new Padding(th / 2, tw / 2, th - th / 2, tw - tw / 2);
    }

    /// <inheritdoc/>
    public override string ToString() => IsSame ? "same" :
        Top == Bottom && Left == Right ? (Top == Left ? Top.ToString() : $"({Top}, {Left})") : $"({Top}, {Left}, {Bottom}, {Right})";
}
