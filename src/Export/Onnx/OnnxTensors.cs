using Onnx;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Google.Protobuf;
using MLConv.Training.Tensors;

namespace MLConv.Export.Onnx;

/// <summary>
/// Float tensors to and from <see cref="TensorProto"/>. Written as <c>raw_data</c>: fixed-width
/// little-endian IEEE 754 floats, as the ONNX spec demands whatever the host's byte order.
/// </summary>
public static class OnnxTensors
{
    /// <summary>A FLOAT initializer named <paramref name="name"/> holding <paramref name="values"/> in row-major order.</summary>
    public static TensorProto FromFloats(string name, ReadOnlySpan<float> values, params ReadOnlySpan<long> dims)
    {
        long n = 1;
        foreach (long d in dims) n *= d;
        if (n != values.Length)
            throw new ArgumentException($"dims [{string.Join(", ", dims.ToArray())}] need {n} values; got {values.Length}.", nameof(values));
        var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
        foreach (long d in dims) t.Dims.Add(d);
        t.RawData = ByteString.CopyFrom(ToLittleEndianBytes(values));
        return t;
    }

    /// <summary>A FLOAT tensor from an MLConv tensor (its shape and its first <see cref="Tensor.Length"/> values).</summary>
    public static TensorProto FromTensor(string name, Tensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        var dims = new long[tensor.Rank];
        for (int i = 0; i < dims.Length; i++) dims[i] = tensor.Shape[i];
        return FromFloats(name, tensor.Span, dims);
    }

    /// <summary>Reads a serialized <see cref="TensorProto"/> file (ONNX test data's input_0.pb / output_0.pb) as a float tensor.</summary>
    public static Tensor ReadFile(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var stream = File.OpenRead(path);
        return ToTensor(TensorProto.Parser.ParseFrom(stream));
    }

    /// <summary>The tensor's float values (FLOAT from raw_data or float_data; DOUBLE narrowed) with its dims.</summary>
    public static Tensor ToTensor(TensorProto proto)
    {
        ArgumentNullException.ThrowIfNull(proto);
        var shape = Shape(proto, out long n);
        var data = new float[n];
        var type = (TensorProto.Types.DataType)proto.DataType;
        switch (type)
        {
            case TensorProto.Types.DataType.Float when !proto.RawData.IsEmpty:
                CheckCount(proto, proto.RawData.Length, 4 * n);
                for (int i = 0; i < n; i++) data[i] = BinaryPrimitives.ReadSingleLittleEndian(proto.RawData.Span.Slice(4 * i, 4));
                break;
            case TensorProto.Types.DataType.Float:
                CheckCount(proto, proto.FloatData.Count, n);
                proto.FloatData.CopyTo(data, 0);
                break;
            case TensorProto.Types.DataType.Double when !proto.RawData.IsEmpty:
                CheckCount(proto, proto.RawData.Length, 8 * n);
                for (int i = 0; i < n; i++) data[i] = (float)BinaryPrimitives.ReadDoubleLittleEndian(proto.RawData.Span.Slice(8 * i, 8));
                break;
            case TensorProto.Types.DataType.Double:
                CheckCount(proto, proto.DoubleData.Count, n);
                for (int i = 0; i < n; i++) data[i] = (float)proto.DoubleData[i];
                break;
            default:
                throw new NotSupportedException($"Tensor '{proto.Name}' has data type {type}; only FLOAT and DOUBLE are read.");
        }
        return new Tensor(shape, data);
    }

    /// <summary>Whether <see cref="ToTensor"/> reads the tensor's data type (FLOAT or DOUBLE).</summary>
    public static bool IsFloat(TensorProto proto) =>
        (TensorProto.Types.DataType)proto.DataType is TensorProto.Types.DataType.Float or TensorProto.Types.DataType.Double;

    /// <summary>Whether <see cref="ToInt64s"/> reads the tensor's data type (INT64 or INT32).</summary>
    public static bool IsInteger(TensorProto proto) =>
        (TensorProto.Types.DataType)proto.DataType is TensorProto.Types.DataType.Int64 or TensorProto.Types.DataType.Int32;

    /// <summary>An INT64 or INT32 tensor's values (shapes, Reshape targets) in row-major order, and its dims.</summary>
    public static long[] ToInt64s(TensorProto proto, out int[] shape)
    {
        ArgumentNullException.ThrowIfNull(proto);
        shape = Shape(proto, out long n);
        var data = new long[n];
        var type = (TensorProto.Types.DataType)proto.DataType;
        switch (type)
        {
            case TensorProto.Types.DataType.Int64 when !proto.RawData.IsEmpty:
                CheckCount(proto, proto.RawData.Length, 8 * n);
                for (int i = 0; i < n; i++) data[i] = BinaryPrimitives.ReadInt64LittleEndian(proto.RawData.Span.Slice(8 * i, 8));
                break;
            case TensorProto.Types.DataType.Int64:
                CheckCount(proto, proto.Int64Data.Count, n);
                proto.Int64Data.CopyTo(data, 0);
                break;
            case TensorProto.Types.DataType.Int32 when !proto.RawData.IsEmpty:
                CheckCount(proto, proto.RawData.Length, 4 * n);
                for (int i = 0; i < n; i++) data[i] = BinaryPrimitives.ReadInt32LittleEndian(proto.RawData.Span.Slice(4 * i, 4));
                break;
            case TensorProto.Types.DataType.Int32:
                CheckCount(proto, proto.Int32Data.Count, n);
                for (int i = 0; i < n; i++) data[i] = proto.Int32Data[i];
                break;
            default:
                throw new NotSupportedException($"Tensor '{proto.Name}' has data type {type}; only INT64 and INT32 are read as integers.");
        }
        return data;
    }

    private static int[] Shape(TensorProto proto, out long count)
    {
        var shape = new int[proto.Dims.Count];
        count = 1;
        for (int i = 0; i < shape.Length; i++)
        {
            if (proto.Dims[i] < 0 || proto.Dims[i] > int.MaxValue)
                throw new InvalidDataException($"Tensor '{proto.Name}' has dimension {proto.Dims[i]} at axis {i}.");
            shape[i] = (int)proto.Dims[i];
            count *= shape[i];
        }
        return shape;
    }

    private static void CheckCount(TensorProto proto, long have, long need)
    {
        if (have != need)
            throw new InvalidDataException($"Tensor '{proto.Name}' of dims [{string.Join(", ", proto.Dims)}] holds {have} data units; {need} expected.");
    }

    private static byte[] ToLittleEndianBytes(ReadOnlySpan<float> values)
    {
        if (BitConverter.IsLittleEndian) return MemoryMarshal.AsBytes(values).ToArray();
        var bytes = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(4 * i), values[i]);
        return bytes;
    }
}
