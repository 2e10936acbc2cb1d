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

    public Tensor(params int[] shape) : this(shape, null) { }

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

    public static Tensor FromArray(float[] data, params int[] shape) => new(shape, data);

    public ReadOnlySpan<int> Shape => _shape;
    public int[] ShapeArray => (int[])_shape.Clone();
    public int Rank => _shape.Length;
    public int Length { get; private set; }
    public Span<float> Span => Data.AsSpan(0, Length);

    public int N => _shape[0];
    public int C => _shape[1];
    public int H => _shape[2];
    public int W => _shape[3];

    public float this[int i] { get => Data[i]; set => Data[i] = value; }

    public float this[int n, int c, int h, int w]
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Data[((n * _shape[1] + c) * _shape[2] + h) * _shape[3] + w];
        set => Data[((n * _shape[1] + c) * _shape[2] + h) * _shape[3] + w] = value;
    }

    public float this[int r, int c]
    {
        get => Data[r * _shape[1] + c];
        set => Data[r * _shape[1] + c] = value;
    }

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

    public Tensor Clone() => new(_shape, Span.ToArray());

    public void Fill(float value) => Span.Fill(value);
    public void Clear() => Span.Clear();

    public string ShapeString => string.Join(", ", _shape);
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
