using System.Text.Json.Nodes;
using MLConv.Training.Tensors;

namespace MLConv.Training.Layers;

/// <summary>
/// Permutes the axes of each sample (ONNX Transpose with the batch axis kept first, perm[0] = 0);
/// ShuffleNet's channel shuffle is Reshape [N, g, C/g, H, W] → Transpose (0, 2, 1, 3, 4) → Reshape [N, C, H, W].
///   forward   y.shape[k] = x.shape[perm[k]],   y[i_0, …, i_(r−1)] = x[j] with j_(perm[k]) = i_k
///   backward  dx = dy transposed by the inverse permutation (perm⁻¹[perm[k]] = k)
/// </summary>
public sealed class Transpose : Layer
{
    private readonly int[] _perm, _inverse;
    private int[]? _inShape;
    private Tensor? _y, _dx;

    /// <summary>Permutes the axes by <paramref name="perm"/> (a permutation of 0..rank−1 with perm[0] = 0).</summary>
    /// <exception cref="ArgumentNullException"><paramref name="perm"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="perm"/> is not such a permutation.</exception>
    public Transpose(params int[] perm)
    {
        ArgumentNullException.ThrowIfNull(perm);
        if (perm.Length < 2 || perm[0] != 0 || perm.Order().Where((p, i) => p != i).Any())
            throw new ArgumentException($"perm must be a permutation of 0..rank-1 (rank >= 2) that keeps the batch axis first (perm[0] = 0); got [{string.Join(", ", perm)}].", nameof(perm));
        _perm = (int[])perm.Clone();
        _inverse = new int[perm.Length];
        for (int k = 0; k < perm.Length; k++) _inverse[perm[k]] = k;
    }

    /// <summary>The permutation: output axis k is input axis perm[k].</summary>
    public IReadOnlyList<int> Perm => _perm;

    /// <inheritdoc/>
    public override int[] OutputShape(int[] inputShape)
    {
        if (inputShape.Length != _perm.Length)
            throw new ArgumentException($"Transpose ({string.Join(", ", _perm)}) expects a rank-{_perm.Length} input; got [{string.Join(", ", inputShape)}].", nameof(inputShape));
        return [.. _perm.Select(p => inputShape[p])];
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor x, bool training)
    {
        ArgumentNullException.ThrowIfNull(x);
        _inShape = x.ShapeArray;
        var y = Tensor.Reuse(ref _y, OutputShape(_inShape));
        Permute(x.Data, _inShape, _perm, y.Data);
        return y;
    }

    /// <inheritdoc/>
    public override Tensor Backward(Tensor dy)
    {
        CheckSameShape(dy, _y, "Transpose");
        var dx = Tensor.Reuse(ref _dx, _inShape!);
        Permute(dy.Data, dy.ShapeArray, _inverse, dx.Data);
        return dx;
    }

    /// <summary>
    /// dst (shape srcShape[perm[k]]) ← src transposed. Trailing axes that stay in place form contiguous
    /// blocks copied whole; an odometer walks the output's other axes.
    /// </summary>
    private static void Permute(float[] src, int[] srcShape, int[] perm, float[] dst)
    {
        int rank = perm.Length;
        var stride = new long[rank];
        stride[rank - 1] = 1;
        for (int d = rank - 2; d >= 0; d--) stride[d] = stride[d + 1] * srcShape[d + 1];
        int tail = rank;
        while (tail > 0 && perm[tail - 1] == tail - 1) tail--;
        int block = 1;
        for (int d = tail; d < rank; d++) block *= srcShape[d];
        long total = 1;
        foreach (int d in srcShape) total *= d;
        if (total == 0) return;
        if (tail == 0) { src.AsSpan(0, (int)total).CopyTo(dst); return; }

        var outShape = new int[tail];
        var step = new long[tail];
        for (int k = 0; k < tail; k++) { outShape[k] = srcShape[perm[k]]; step[k] = stride[perm[k]]; }
        var index = new int[tail];
        long from = 0;
        for (long to = 0; to < total; to += block)
        {
            src.AsSpan((int)from, block).CopyTo(dst.AsSpan((int)to, block));
            for (int k = tail - 1; k >= 0; k--)
            {
                from += step[k];
                if (++index[k] < outShape[k]) break;
                from -= step[k] * outShape[k];
                index[k] = 0;
            }
        }
    }

    /// <inheritdoc/>
    public override JsonObject ToSpec() => new() { ["type"] = TypeName, ["perm"] = new JsonArray([.. _perm.Select(p => (JsonNode)p)]) };
    /// <summary>Rebuilds a <see cref="Transpose"/> from <paramref name="spec"/>, the JSON its <see cref="Layer.ToSpec"/> writes (<see cref="LayerFactory"/> calls this).</summary>
    public static Transpose FromSpec(JsonObject spec) => new(Spec.Ints(spec, "perm"));
    /// <inheritdoc/>
    public override string ToString() => $"Transpose({string.Join(", ", _perm)})";
}
