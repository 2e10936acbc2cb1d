using System.Numerics.Tensors;

namespace MLConv.Training.Tensors;

/// <summary>
/// Row operations on batches: row i of an [N, …] tensor is its i-th slice along axis 0 (a sample's logits, an image).
/// The softmax, arg-max and gather that the loss, the layers, inference, the data code and the ONNX verifier share.
/// </summary>
public static class Rows
{
    /// <summary>
    /// p = softmax(z) = exp(z − m) / Σ exp(z − m) with m = max z (stable); returns log Σ exp(z) = m + log Σ exp(z − m),
    /// so −log p_t = result − z_t and log p = z − result. The sum runs in double.
    /// </summary>
    public static double Softmax(ReadOnlySpan<float> z, Span<float> p)
    {
        if (p.Length < z.Length) throw new ArgumentException($"p has room for {p.Length} values; z has {z.Length}.", nameof(p));
        if (z.IsEmpty) return double.NegativeInfinity;
        float m = TensorPrimitives.Max(z);
        double sum = 0;
        for (int j = 0; j < z.Length; j++) { float e = MathF.Exp(z[j] - m); p[j] = e; sum += e; }
        TensorPrimitives.Multiply(p[..z.Length], (float)(1.0 / sum), p);
        return Math.Log(sum) + m;
    }

    /// <summary>Row-wise <see cref="Softmax(ReadOnlySpan{float}, Span{float})"/> of [N, K] logits into a new [N, K] tensor.</summary>
    public static Tensor Softmax(Tensor logits)
    {
        ArgumentNullException.ThrowIfNull(logits);
        if (logits.Rank != 2) throw new ArgumentException($"logits must be [N, classes]; got [{logits.ShapeString}].", nameof(logits));
        var p = new Tensor(logits.ShapeArray);
        int k = logits.Shape[1];
        for (int i = 0; i < logits.N; i++) Softmax(logits.Data.AsSpan(i * k, k), p.Data.AsSpan(i * k, k));
        return p;
    }

    /// <summary>Index of the largest value, the first on ties (as ML.NET's scorers); 0 for an empty span.</summary>
    public static int ArgMax(ReadOnlySpan<float> values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++) if (values[i] > values[best]) best = i;
        return best;
    }

    /// <summary>destination row i = source row indices[i], rows of <paramref name="rowLength"/> values.</summary>
    public static void Gather<T>(ReadOnlySpan<T> source, int rowLength, ReadOnlySpan<int> indices, Span<T> destination)
    {
        if (rowLength < 0) throw new ArgumentOutOfRangeException(nameof(rowLength), rowLength, "rowLength must be >= 0.");
        if (destination.Length < indices.Length * rowLength)
            throw new ArgumentException($"destination has room for {destination.Length} values; {indices.Length} rows of {rowLength} need {indices.Length * rowLength}.", nameof(destination));
        int rows = rowLength == 0 ? int.MaxValue : source.Length / rowLength;
        for (int i = 0; i < indices.Length; i++)
        {
            if ((uint)indices[i] >= (uint)rows)
                throw new ArgumentOutOfRangeException(nameof(indices), indices[i], $"indices[{i}] = {indices[i]} is outside [0, {rows}).");
            source.Slice(indices[i] * rowLength, rowLength).CopyTo(destination.Slice(i * rowLength, rowLength));
        }
    }

    /// <summary>A new tensor [indices.Length, …] holding the rows of <paramref name="source"/> at <paramref name="indices"/>, in that order.</summary>
    public static Tensor Gather(Tensor source, ReadOnlySpan<int> indices)
    {
        ArgumentNullException.ThrowIfNull(source);
        int[] shape = source.ShapeArray;
        int rowLength = 1;
        for (int d = 1; d < shape.Length; d++) rowLength *= shape[d];
        shape[0] = indices.Length;
        var result = new Tensor(shape);
        Gather<float>(source.Span, rowLength, indices, result.Span);
        return result;
    }
}
