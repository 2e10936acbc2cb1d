using System.CommandLine;
using MLConv.Export;
using MLConv.Training.Models;

namespace MLConv.Cli.Commands;

/// <summary>
/// <c>mlconv export</c>: the model as ONNX (raw pixels in, normalisation inside, outputs logits and probabilities),
/// followed by a quick ONNX Runtime check on random pixels (exit code 1 when it disagrees; <c>verify</c> reports in full).
/// </summary>
internal static class ExportCommand
{
    public static Command Create(CliContext ctx)
    {
        var model = CliOptions.Required("--model", "Model file (.mlconv)", "file");
        var output = CliOptions.Required("--out", "ONNX file to write", "file.onnx");
        var opset = CliOptions.Int("--opset", OnnxExportOptions.DefaultOpset, 7, 21, "ONNX opset");
        var foldBn = CliOptions.Flag("--fold-bn", "Fold batch normalisation into the preceding convolutions");
        var command = new Command("export", "Write the model as ONNX and check it under ONNX Runtime on random pixels.") { model, output, opset, foldBn };
        command.SetAction(r =>
        {
            var net = ModelFile.Load(r.GetValue(model)!);
            string path = r.GetValue(output)!;
            var report = OnnxExporter.Export(net, path, new OnnxExportOptions { Opset = r.GetValue(opset), FoldBatchNorm = r.GetValue(foldBn) });
            ctx.Line($"Wrote {report.Path}: opset {report.Opset}, IR {report.IrVersion}, {report.Nodes} nodes, {report.FoldedBatchNorms} BatchNorm folded, {report.Bytes:N0} bytes");
            return VerifyCommand.Check(ctx, net, path, VerifyCommand.RandomPixels(net, 8), VerifyCommand.DefaultTolerance);
        });
        return command;
    }
}
