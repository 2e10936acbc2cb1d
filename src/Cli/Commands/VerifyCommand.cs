using System.CommandLine;
using System.Globalization;
using MLConv.Export;
using MLConv.Training.Models;
using MLConv.Training.Tensors;

namespace MLConv.Cli.Commands;

/// <summary>
/// <c>mlconv verify</c>: runs an ONNX file under ONNX Runtime (CPU, and CUDA where the installed runtime offers it) on
/// the same pixels as MLConv's own forward pass and reports the largest differences and the argmax agreement per
/// output; exit code 1 when an output differs by more than the tolerance of its scale.
/// </summary>
internal static class VerifyCommand
{
    public const double DefaultTolerance = 1e-4;

    public static Command Create(CliContext ctx)
    {
        var model = CliOptions.Required("--model", "Model file (.mlconv), the reference", "file");
        var onnx = CliOptions.Required("--onnx", "ONNX file to check (e.g. written by mlconv export)", "file.onnx");
        var data = CliOptions.Optional("--data", "Image folder whose test images are the inputs (default: random pixels)", "folder");
        var split = CliOptions.Optional("--split", "Split file whose test part is used (default: <data>/split.txt when present, else every image)", "file");
        var count = CliOptions.Int("--count", 64, 1, 100_000, "How many inputs");
        var tolerance = CliOptions.Double("--tolerance", DefaultTolerance, 0, 1, "Largest accepted error, relative to each output's scale", minExclusive: true);
        var command = new Command("verify", "Check an ONNX file against MLConv's forward pass under ONNX Runtime; exit code 1 when they disagree.")
        {
            model, onnx, data, split, count, tolerance,
        };
        command.SetAction(r =>
        {
            var net = ModelFile.Load(r.GetValue(model)!);
            int n = r.GetValue(count);
            Tensor inputs;
            if (r.GetValue(data) is { } folder)
            {
                var (images, what) = ImageData.TestImages(ctx, folder, r.GetValue(split), all: false);
                images = images.Select(images.Files.Take(n));
                inputs = ImageData.LoadFor(net, images, ctx.CancellationToken).Images;
                ctx.Line($"Inputs: {images.Count} of {what}");
            }
            else
            {
                inputs = RandomPixels(net, n);
                ctx.Line($"Inputs: {n} images of random pixels");
            }
            return Check(ctx, net, r.GetValue(onnx)!, inputs, r.GetValue(tolerance));
        });
        return command;
    }

    public static Tensor RandomPixels(Network net, int count)
    {
        var rng = new Random(1);
        var t = new Tensor(net.InputShape(count));
        for (int i = 0; i < t.Length; i++) t[i] = (float)rng.NextDouble();
        return t;
    }

    /// <summary>Prints the parity table; returns 0 when every output agrees within <paramref name="tolerance"/>, else 1 with a line on the error writer.</summary>
    public static int Check(CliContext ctx, Network net, string onnxPath, Tensor inputs, double tolerance)
    {
        if (!File.Exists(onnxPath)) throw new FileNotFoundException($"ONNX file not found: '{onnxPath}'.", onnxPath);
        var report = OnnxVerifier.Verify(net, onnxPath, inputs);
        var table = Tables.Create("provider", "output", "shape", "max abs err", "max rel err", "scale", "argmax agree").RightAligned(3, 4, 5, 6);
        foreach (var c in report.Comparisons)
            table.Row(c.Provider, c.Output, string.Join("x", c.ActualShape) + (c.ShapesMatch ? "" : $" (expected {string.Join("x", c.ExpectedShape)})"),
                c.MaxAbsoluteError.ToString("E2", CultureInfo.InvariantCulture), c.MaxRelativeError.ToString("E2", CultureInfo.InvariantCulture),
                c.ReferenceScale.ToString("G4", CultureInfo.InvariantCulture), $"{c.ArgmaxAgreements}/{c.Samples}");
        ctx.Console.Write(table);
        foreach (var (provider, why) in report.ProvidersUnavailable) ctx.Line($"{provider}: {why}");
        if (report.Passed(tolerance))
        {
            ctx.Line(string.Create(CultureInfo.InvariantCulture, $"ONNX Runtime agrees with MLConv within {tolerance:G3} of each output's scale."));
            return Cli.Ok;
        }
        double worst = report.Comparisons.Select(c => c.MaxRelativeError).DefaultIfEmpty(double.NaN).Max();
        ctx.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"mlconv verify: ONNX Runtime disagrees with MLConv on '{onnxPath}': max relative error {worst:E2} > {tolerance:G3}{(report.Comparisons.All(c => c.ShapesMatch) ? "" : " or an output's shape differs")}."));
        return Cli.Failure;
    }
}
