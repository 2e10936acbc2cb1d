namespace MLConv.Export;

/// <summary>How <see cref="OnnxExporter"/> writes a model.</summary>
public sealed class OnnxExportOptions
{
    /// <summary>
    /// Default opset, 19 (ONNX 1.14, IR version 9). AveragePool-19 is the first AveragePool with
    /// dilations, and the version from which ONNX states how a ceil-mode window running past the end
    /// padding is divided when count_include_pad is set (by its part inside the padded input, PyTorch's
    /// rule, which <see cref="MLConv.Training.Layers.AvgPool2d"/> follows). ONNX Runtime 1.31.1 applies
    /// that rule at every opset from 10 (checked), but runtimes differed there before, so such a layer
    /// conservatively requires 19. MaxPool has had dilations and ceil_mode since opset 10.
    /// </summary>
    public const int DefaultOpset = 19;

    /// <summary>
    /// The ai.onnx opset to import, in [7, 22]; the IR version follows from it (ONNX's release table).
    /// A lower opset works when no layer needs a newer operator version: ceil_mode or MaxPool
    /// dilations need 10, AvgPool2d with ceil_mode and count_include_pad needs 19. A layer that does
    /// is refused with a <see cref="NotSupportedException"/> naming it.
    /// </summary>
    public int Opset { get; set; } = DefaultOpset;

    /// <summary>
    /// Fold each BatchNorm2d that directly follows a Conv2d (in a Sequential) into the convolution:
    /// with s = γ / √(running_var + ε), W' = W·s (per output channel) and b' = (b − running_mean)·s + β.
    /// Off by default: the exported graph then mirrors the layer tree one node per layer.
    /// </summary>
    public bool FoldBatchNorm { get; set; }

    /// <summary>
    /// For a <see cref="MLConv.Training.Models.Network"/>: put its input normalisation at the start of the graph
    /// (Sub mean, Mul 1/std per channel), so the file takes raw pixels, as the network's users feed it. Default true;
    /// nothing is added when the normalisation is the identity. The model's metadata says whether it was included
    /// ("input_normalization" = "included"), and <see cref="OnnxVerifier"/> reads it.
    /// </summary>
    public bool IncludeNormalization { get; set; } = true;

    /// <summary>ModelProto.producer_name.</summary>
    public string ProducerName { get; set; } = "MLConv";

    /// <summary>ModelProto.doc_string; null writes a one-line description of the network.</summary>
    public string? DocString { get; set; }
}

/// <summary>What an export wrote.</summary>
/// <param name="Path">The file written (full path).</param>
/// <param name="Opset">ai.onnx opset imported.</param>
/// <param name="IrVersion">ModelProto.ir_version.</param>
/// <param name="Nodes">Nodes in the graph.</param>
/// <param name="Initializers">Initializer tensors.</param>
/// <param name="InitializerValues">Float values stored in initializers.</param>
/// <param name="FoldedBatchNorms">BatchNorm2d layers folded into the preceding Conv2d.</param>
/// <param name="Bytes">Size of the serialized model.</param>
/// <param name="Outputs">Graph output names ("logits", and "probabilities" for [N, classes] outputs).</param>
/// <param name="OutputShape">Shape of "logits" for batch 1 (the batch dimension is the symbol "N" in the file).</param>
public sealed record OnnxExportReport(
    string Path, int Opset, long IrVersion, int Nodes, int Initializers, long InitializerValues,
    int FoldedBatchNorms, long Bytes, IReadOnlyList<string> Outputs, int[] OutputShape);
