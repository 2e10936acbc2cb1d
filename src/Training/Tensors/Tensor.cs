using System.Runtime.CompilerServices;

namespace MLConv.Training.Tensors;

/// <summary>
/// A dense float32 tensor in row-major order. Images are NCHW (batch, channels, height, width),
/// as in ONNX and PyTorch; fully connected activations are (N, features).
/// </summary>
public sealed class Tensor
{
    private int[] _shape;

    /// <summary>Contiguous storage; may be longer than <see cref="Length"/> when reused.</summary>
    public float[] Data { get; private set; }

    /// <summary>A zero-filled tensor of <paramref name="shape"/>.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="shape"/> is null.</exception>
    /// <exception cref="ArgumentException">A dimension is negative, or the element count exceeds int.MaxValue.</exception>
    public Tensor(params int[] shape) : this(shape, null) { }

    /// <summary>A tensor of <paramref name="shape"/> over <paramref name="data"/> (not copied; may be longer than needed), or over new zeroed storage when null.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="shape"/> is null.</exception>
    /// <exception cref="ArgumentException">A dimension is negative, the element count exceeds int.MaxValue, or <paramref name="data"/> is too short.</exception>
    public Tensor(int[] shape, float[]? data)
    {
        ArgumentNullException.ThrowIfNull(shape);
        long n = 1;
        foreach (int d in shape)
        {
            if (d < 0) throw new ArgumentException($"Every dimension must be >= 0; got [{string.Join(", ", shape)}].", nameof(shape));
            if (n <= int.MaxValue) n *= d;   // stops growing once too large: no long overflow on any rank
        }
        if (Array.IndexOf(shape, 0) >= 0) n = 0;
        if (n > int.MaxValue) throw new ArgumentException($"Tensor of shape [{string.Join(", ", shape)}] is too large.", nameof(shape));
        _shape = (int[])shape.Clone();
        if (data is null) data = new float[n];
        else if (data.Length < n)
            throw new ArgumentException($"Data has {data.Length} elements; shape [{string.Join(", ", shape)}] needs {n}.", nameof(data));
        Data = data;
        Length = (int)n;
    }

    /// <summary>A tensor of <paramref name="shape"/> over <paramref name="data"/> (not copied); see <see cref="Tensor(int[], float[])"/>.</summary>
    public static Tensor FromArray(float[] data, params int[] shape) => new(shape, data);

    /// <summary>The dimensions, outermost first (no copy).</summary>
    public ReadOnlySpan<int> Shape => _shape;
    /// <summary>A copy of the dimensions.</summary>
    public int[] ShapeArray => (int[])_shape.Clone();
    /// <summary>The number of dimensions.</summary>
    public int Rank => _shape.Length;
    /// <summary>The element count (product of the dimensions).</summary>
    public int Length { get; private set; }
    /// <summary>The first <see cref="Length"/> elements of <see cref="Data"/>.</summary>
    public Span<float> Span => Data.AsSpan(0, Length);

    /// <summary>Dimension 0 (batch).</summary>
    public int N => _shape[0];
    /// <summary>Dimension 1 (channels or features).</summary>
    public int C => _shape[1];
    /// <summary>Dimension 2 (height) of a rank-4 tensor.</summary>
    public int H => _shape[2];
    /// <summary>Dimension 3 (width) of a rank-4 tensor.</summary>
    public int W => _shape[3];

    /// <summary>The element at flat (row-major) index <paramref name="i"/>.</summary>
    public float this[int i] { get => Data[i]; set => Data[i] = value; }

    /// <summary>The element at [n, c, h, w] of a rank-4 tensor (indices are not checked beyond the array bound).</summary>
    public float this[int n, int c, int h, int w]
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Data[((n * _shape[1] + c) * _shape[2] + h) * _shape[3] + w];
        set => Data[((n * _shape[1] + c) * _shape[2] + h) * _shape[3] + w] = value;
    }

    /// <summary>The element at [r, c] of a rank-2 tensor (indices are not checked beyond the array bound).</summary>
    public float this[int r, int c]
    {
        get => Data[r * _shape[1] + c];
        set => Data[r * _shape[1] + c] = value;
    }

    /// <summary>True when the dimensions equal <paramref name="shape"/>.</summary>
    public bool ShapeEquals(ReadOnlySpan<int> shape) => shape.SequenceEqual(_shape);

    /// <summary>A view with a new shape over the same storage (element count must agree).</summary>
    public Tensor Reshape(params int[] shape)
    {
        long n = 1;
        foreach (int d in shape) n *= d;
        if (n != Length)
            throw new ArgumentException($"Cannot reshape [{ShapeString}] ({Length} elements) to [{string.Join(", ", shape)}].", nameof(shape));
        return new Tensor(shape, Data);
    }

    /// <summary>A deep copy (own storage of exactly <see cref="Length"/> elements).</summary>
    public Tensor Clone() => new(_shape, Span.ToArray());

    /// <summary>Sets every element to <paramref name="value"/>.</summary>
    public void Fill(float value) => Span.Fill(value);
    /// <summary>Sets every element to 0.</summary>
    public void Clear() => Span.Clear();

    /// <summary>The dimensions as "2, 3, 28, 28" (for messages).</summary>
    public string ShapeString => string.Join(", ", _shape);
    /// <summary>"Tensor[dims]".</summary>
    public override string ToString() => $"Tensor[{ShapeString}]";

    /// <summary>
    /// Returns <paramref name="buffer"/> when it already has <paramref name="shape"/>, otherwise a new tensor.
    /// Layers use it to reuse their activation buffers across batches of the same size.
    /// </summary>
    public static Tensor Reuse(ref Tensor? buffer, params int[] shape)
    {
        if (buffer is not null && buffer.ShapeEquals(shape)) return buffer;
        if (buffer is not null)
        {
            long n = 1;
            foreach (int d in shape) n *= d;
            if (n <= buffer.Data.Length)
            {
                buffer = new Tensor(shape, buffer.Data);
                return buffer;
            }
        }
        buffer = new Tensor(shape);
        return buffer;
    }

    /// <summary>Throws when any element is NaN or infinite.</summary>
    public void ThrowIfNotFinite(string paramName)
    {
        var s = Span;
        for (int i = 0; i < s.Length; i++)
            if (!float.IsFinite(s[i]))
                throw new ArgumentException($"Tensor [{ShapeString}] holds a non-finite value ({s[i]}) at flat index {i}; inputs must be finite.", paramName);
    }
}
