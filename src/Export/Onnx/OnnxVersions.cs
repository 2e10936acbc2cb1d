namespace MLConv.Export.Onnx;

/// <summary>
/// The ONNX release table (onnx/onnx docs/Versioning.md): each ai.onnx opset ships with one IR
/// version, and a model should declare the IR version of the opset it imports — an older runtime
/// refuses an IR version newer than it knows even when every operator would be available.
/// </summary>
internal static class OnnxVersions
{
    /// <summary>ONNX Runtime supports opsets from 7 on; the table below ends at 22 (ONNX 1.17).</summary>
    public const int MinOpset = 7, MaxOpset = 22;

    public static long IrVersionFor(int opset) => opset switch
    {
        7 or 8 => 3,           // ONNX 1.2, 1.3
        9 => 4,                // 1.4.1
        10 => 5,               // 1.5
        11 => 6,               // 1.6
        >= 12 and <= 14 => 7,  // 1.7 – 1.9
        >= 15 and <= 18 => 8,  // 1.10 – 1.13
        19 or 20 => 9,         // 1.14, 1.15
        21 or 22 => 10,        // 1.16, 1.17
        _ => throw new ArgumentOutOfRangeException(nameof(opset), opset, $"opset must be in [{MinOpset}, {MaxOpset}]."),
    };
}
