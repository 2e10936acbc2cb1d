using System.Runtime.Intrinsics;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace MLConv.Training.Kernels;

/// <summary>
/// The residual join of an inference forward in one pass: y = a + b, or y = max(a + b, 0) with the ReLU that follows it
/// fused (NaN propagates, as in <see cref="Layers.ReLU"/>). Element-wise, so
/// long arrays split over the threads in fixed chunks (any split gives the same result). y may be a or b.
/// </summary>
public static class AddReLU
{
    private const int Chunk = 16384;

    /// <summary>y[i] = a[i] + b[i], then max(·, 0) when <paramref name="relu"/>, over the first <paramref name="length"/> elements.</summary>
    /// <exception cref="ArgumentException">An array is shorter than <paramref name="length"/>.</exception>
    public static void Run(float[] a, float[] b, float[] y, int length, bool relu)
    {
        if (a.Length < length || b.Length < length || y.Length < length)
            throw new ArgumentException($"a ({a.Length}), b ({b.Length}) and y ({y.Length}) need at least {length} elements.");
        int chunks = (length + Chunk - 1) / Chunk;
        Parallelism.For(chunks, Chunk, new Job(a, b, y, length, relu), static (in Job j, int c) =>
        {
            int i0 = c * Chunk, len = Math.Min(Chunk, j.Length - i0);
            Span(j.A.AsSpan(i0, len), j.B.AsSpan(i0, len), j.Y.AsSpan(i0, len), j.Relu);
        });
    }

    private readonly record struct Job(float[] A, float[] B, float[] Y, int Length, bool Relu);

    /// <summary>One chunk: y = a + b (then max(·, 0)); y may alias a or b exactly.</summary>
    private static void Span(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y, bool relu)
    {
        if (!relu) { TensorPrimitives.Add(a, b, y); return; }
        int i = 0;
        for (; i + Vector256<float>.Count <= y.Length; i += Vector256<float>.Count)
            Vector256.Max(Vector256.Create(a.Slice(i, Vector256<float>.Count)) + Vector256.Create(b.Slice(i, Vector256<float>.Count)), Vector256<float>.Zero)
                .CopyTo(y.Slice(i));
        for (; i < y.Length; i++)
        {
            float v = a[i] + b[i];
            y[i] = float.IsNaN(v) ? v : Math.Max(v, 0f);
        }
    }
}
