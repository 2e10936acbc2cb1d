using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using MLConv.Training.Data;
using MLConv.Training.Layers;
using MLConv.Training.Tensors;

namespace MLConv.Training.Models;

/// <summary>
/// One-file model format (.mlconv), little-endian:
/// <code>
/// "MLCONV\r\n" (8 bytes) | format version (int32) | header length (int32) | header (UTF-8 JSON)
/// | tensor payload (float32, in header order) | SHA-256 of everything before (32 bytes)
/// </code>
/// The header holds the architecture spec (the root Sequential's layer tree), input shape, class names,
/// normalisation and the list of tensors (parameters and BatchNorm running statistics). A file may carry an
/// <see cref="ModelFileExtra"/> beside the model (a training checkpoint does): its JSON under "extra" and its
/// tensors listed under "extraTensors", stored after the model's. Files are written to a temp file and renamed.
/// A truncated, corrupted or wrong-version file throws <see cref="InvalidDataException"/>.
/// </summary>
public static class ModelFile
{
    /// <summary>The format version this build writes and the only one it reads.</summary>
    public const int FormatVersion = 1;
    private static readonly byte[] Magic = "MLCONV\r\n"u8.ToArray();

    /// <summary>Writes <paramref name="network"/> (layer tree, weights, running statistics, input shape, class names, normalisation) to <paramref name="path"/> atomically.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="network"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="path"/> is null, empty or white space.</exception>
    public static void Save(Network network, string path) => Save(network, path, null);

    internal static void Save(Network network, string path, ModelFileExtra? extra)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        // Refuse what Load could not rebuild, before anything is written.
        var spec = network.Root.ToSpec();
        try { LayerFactory.FromSpec(spec); }
        catch (InvalidDataException e)
        {
            throw new NotSupportedException($"The network cannot be saved: {e.Message} Model files hold the layers LayerFactory knows.", e);
        }
        var tensors = network.StateTensors();
        var header = new JsonObject
        {
            ["architecture"] = network.Architecture,
            ["input"] = new JsonArray(network.Channels, network.Height, network.Width),
            ["classNames"] = new JsonArray([.. network.ClassNames.Select(n => (JsonNode)JsonValue.Create(n)!)]),
            ["normalization"] = new JsonObject
            {
                ["mean"] = new JsonArray([.. network.Normalization.Mean.Select(v => (JsonNode)JsonValue.Create(v))]),
                ["std"] = new JsonArray([.. network.Normalization.Std.Select(v => (JsonNode)JsonValue.Create(v))]),
            },
            ["spec"] = spec,
        };
        header["tensors"] = TensorList(tensors);
        if (extra is not null)
        {
            header["extra"] = extra.Header.DeepClone();
            header["extraTensors"] = TensorList(extra.Tensors);
            tensors.AddRange(extra.Tensors);
        }

        using var body = new MemoryStream();
        body.Write(Magic);
        Span<byte> i32 = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(i32, FormatVersion); body.Write(i32);
        var json = Encoding.UTF8.GetBytes(header.ToJsonString());
        BinaryPrimitives.WriteInt32LittleEndian(i32, json.Length); body.Write(i32);
        body.Write(json);
        foreach (var (_, t) in tensors) WriteFloats(body, t.Span);
        var hash = SHA256.HashData(body.GetBuffer().AsSpan(0, (int)body.Length));
        body.Write(hash);
        AtomicFile.Write(path, body.GetBuffer().AsSpan(0, (int)body.Length));
    }

    private static JsonArray TensorList(IEnumerable<(string Name, Tensor Value)> tensors) => new([.. tensors.Select(t => (JsonNode)new JsonObject
    {
        ["name"] = t.Name,
        ["shape"] = new JsonArray([.. t.Value.ShapeArray.Select(d => (JsonNode)d)]),
    })]);

    /// <summary>Reads a network written by <see cref="Save(Network, string)"/> (a checkpoint's model too; its extra part is ignored).</summary>
    /// <exception cref="ArgumentException"><paramref name="path"/> is null, empty or white space.</exception>
    /// <exception cref="FileNotFoundException"><paramref name="path"/> is a folder or does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is truncated, corrupted (checksum), of another format version, or not a model file.</exception>
    public static Network Load(string path) => Load(path, out _);

    internal static Network Load(string path, out ModelFileExtra? extra)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (Directory.Exists(path)) throw new FileNotFoundException($"Model file '{path}' is a folder, not a file.", path);
        if (!File.Exists(path)) throw new FileNotFoundException($"Model file '{path}' does not exist.", path);
        byte[] bytes = File.ReadAllBytes(path);
        try { return Parse(bytes, path, out extra); }
        catch (Exception e) when (e is not InvalidDataException)
        {
            throw new InvalidDataException($"Model file '{path}' is corrupt: {e.Message}", e);
        }
    }

    private static Network Parse(byte[] bytes, string path, out ModelFileExtra? extra)
    {
        if (bytes.Length < Magic.Length + 8 + 32 || !bytes.AsSpan(0, Magic.Length).SequenceEqual(Magic))
            throw new InvalidDataException($"'{path}' is not an MLConv model file (bad signature or too short: {bytes.Length} bytes).");
        int version = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(Magic.Length));
        if (version != FormatVersion)
            throw new InvalidDataException($"Model file '{path}' has format version {version}; this build reads version {FormatVersion}.");
        var expectedHash = SHA256.HashData(bytes.AsSpan(0, bytes.Length - 32));
        if (!expectedHash.AsSpan().SequenceEqual(bytes.AsSpan(bytes.Length - 32)))
            throw new InvalidDataException($"Model file '{path}' is truncated or corrupted (checksum mismatch).");
        int headerLength = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(Magic.Length + 4));
        int offset = Magic.Length + 8;
        if (headerLength < 2 || offset + headerLength > bytes.Length - 32)
            throw new InvalidDataException($"Model file '{path}' has an invalid header length {headerLength}.");
        var header = JsonNode.Parse(bytes.AsSpan(offset, headerLength)) as JsonObject
            ?? throw new InvalidDataException($"Model file '{path}' has no JSON header object.");
        offset += headerLength;

        // Every listed tensor must fit in the bytes the file has, before anything is allocated for it.
        long payload = 0;
        foreach (var (name, shape) in TensorEntries(header["tensors"], path).Concat(TensorEntries(header["extraTensors"], path)))
        {
            payload += ElementCount(shape, name, path) * 4;
            if (payload > bytes.Length - 32 - offset)
                throw new InvalidDataException($"Model file '{path}' lists tensors of more bytes than it holds ({bytes.Length} bytes in all; tensor '{name}' goes past the end).");
        }
        var root = LayerFactory.FromSpec(Field<JsonObject>(header, "spec", path)) as Sequential
            ?? throw new InvalidDataException($"Model file '{path}': the root layer is not a Sequential.");
        var input = Field<JsonArray>(header, "input", path);
        if (input.Count != 3) throw new InvalidDataException($"Model file '{path}': header field 'input' must be [channels, height, width]; it has {input.Count} values.");
        var names = Field<JsonArray>(header, "classNames", path).Select(n => n?.GetValue<string>()
            ?? throw new InvalidDataException($"Model file '{path}': header field 'classNames' holds a null.")).ToArray();
        var norm = Field<JsonObject>(header, "normalization", path);
        var normalization = new Normalization(
            [.. Field<JsonArray>(norm, "mean", path).Select(v => v?.GetValue<float>() ?? float.NaN)],
            [.. Field<JsonArray>(norm, "std", path).Select(v => v?.GetValue<float>() ?? float.NaN)]);
        var network = new Network(root, input[0]!.GetValue<int>(), input[1]!.GetValue<int>(), input[2]!.GetValue<int>(), names, normalization)
        {
            Architecture = header["architecture"]?.GetValue<string>() ?? "custom",
        };

        var targets = network.StateTensors().ToDictionary(t => t.Path, t => t.Value, StringComparer.Ordinal);
        foreach (var (name, shape) in TensorEntries(header["tensors"], path))
        {
            if (!targets.Remove(name, out var target))
                throw new InvalidDataException($"Model file '{path}' holds tensor '{name}' that the architecture does not have.");
            if (!target.ShapeEquals(shape))
                throw new InvalidDataException($"Model file '{path}': tensor '{name}' has shape [{string.Join(", ", shape)}]; the architecture expects [{target.ShapeString}].");
            offset = ReadTensor(bytes, offset, target, name, path);
        }
        if (targets.Count > 0) throw new InvalidDataException($"Model file '{path}' lacks tensors: {string.Join(", ", targets.Keys)}.");
        extra = null;
        if (header["extra"] is JsonObject extraHeader)
        {
            var extraTensors = new List<(string, Tensor)>();
            foreach (var (name, shape) in TensorEntries(header["extraTensors"], path))
            {
                var t = new Tensor(shape);
                offset = ReadTensor(bytes, offset, t, name, path);
                extraTensors.Add((name, t));
            }
            extra = new ModelFileExtra(extraHeader, extraTensors);
        }
        if (offset != bytes.Length - 32) throw new InvalidDataException($"Model file '{path}' has {bytes.Length - 32 - offset} unexpected trailing bytes.");
        return network;
    }

    private static IEnumerable<(string Name, int[] Shape)> TensorEntries(JsonNode? list, string path) =>
        (list as JsonArray ?? []).Select(node => node is JsonObject o
            ? (Field<JsonValue>(o, "name", path).GetValue<string>(), Field<JsonArray>(o, "shape", path).Select(d => d?.GetValue<int>() ?? -1).ToArray())
            : throw new InvalidDataException($"Model file '{path}': a tensor entry of the header is not an object."));

    /// <summary>A header field that must be there, with the type it must have; an <see cref="InvalidDataException"/> naming it otherwise.</summary>
    private static T Field<T>(JsonObject o, string name, string path) where T : JsonNode =>
        o[name] as T ?? throw new InvalidDataException(
            $"Model file '{path}' has a valid checksum but its header {(o[name] is null ? "lacks" : "has a malformed")} field '{name}' (written by another program or version?).");

    private static long ElementCount(int[] shape, string name, string path)
    {
        if (shape.Any(d => d < 0)) throw new InvalidDataException($"Model file '{path}': tensor '{name}' has a negative dimension [{string.Join(", ", shape)}].");
        if (shape.Contains(0)) return 0;
        long n = 1;
        foreach (int d in shape)
            if ((n *= d) > int.MaxValue) return (long)int.MaxValue + 1;   // more than any tensor holds; no overflow on any rank
        return n;
    }

    /// <summary>Reads <paramref name="target"/>'s values at <paramref name="offset"/>; returns the offset after them.</summary>
    private static int ReadTensor(byte[] bytes, int offset, Tensor target, string name, string path)
    {
        long byteCount = (long)target.Length * 4;
        if (offset + byteCount > bytes.Length - 32) throw new InvalidDataException($"Model file '{path}' is truncated inside tensor '{name}'.");
        ReadFloats(bytes.AsSpan(offset, (int)byteCount), target.Span);
        return offset + (int)byteCount;
    }

    private static void WriteFloats(Stream s, ReadOnlySpan<float> values)
    {
        if (BitConverter.IsLittleEndian) { s.Write(MemoryMarshal.AsBytes(values)); return; }
        Span<byte> b = stackalloc byte[4];
        foreach (float v in values) { BinaryPrimitives.WriteSingleLittleEndian(b, v); s.Write(b); }
    }

    private static void ReadFloats(ReadOnlySpan<byte> src, Span<float> dst)
    {
        if (BitConverter.IsLittleEndian) { src.CopyTo(MemoryMarshal.AsBytes(dst)); return; }
        for (int i = 0; i < dst.Length; i++) dst[i] = BinaryPrimitives.ReadSingleLittleEndian(src.Slice(4 * i));
    }
}

/// <summary>
/// What a file may carry beside the model, opaque to <see cref="ModelFile"/>: a JSON object and named tensors
/// (a training checkpoint keeps its position and the optimizer state there).
/// </summary>
internal sealed record ModelFileExtra(JsonObject Header, IReadOnlyList<(string Name, Tensor Value)> Tensors);
