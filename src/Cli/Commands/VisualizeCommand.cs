using System.CommandLine;
using MLConv.Training.Models;

namespace MLConv.Cli.Commands;

/// <summary>
/// <c>mlconv visualize</c>: the pictures of a trained model in one folder — its training history (CSV and JSON, and
/// loss/accuracy curves), the confusion matrix on a folder's test images (CSV, and a heat map), the first convolution's
/// filters and one image's feature maps. The pictures are drawn by an <see cref="IPictureRenderer"/>
/// (<see cref="Renderer"/>); without one the data files are written and the command says so.
/// </summary>
internal static class VisualizeCommand
{
    /// <summary>Draws the pictures; null while no plotting library is part of this build.</summary>
    public static IPictureRenderer? Renderer { get; set; }

    public static Command Create(CliContext ctx)
    {
        var model = CliOptions.Required("--model", "Model file (.mlconv); its history is read from <model>.history.json", "file");
        var data = CliOptions.Optional("--data", "Image folder for the confusion matrix (its test images, as evaluate picks them)", "folder");
        var split = CliOptions.Optional("--split", "Split file whose test part is used", "file");
        var image = CliOptions.Optional("--image", "Image whose feature maps are drawn", "file");
        var output = CliOptions.Required("--out", "Folder to write into", "folder");
        var command = new Command("visualize", "Training curves, confusion matrix, first-layer filters and feature maps of a model, into a folder.")
        {
            model, data, split, image, output,
        };
        command.SetAction(r =>
        {
            string modelPath = r.GetValue(model)!, folder = r.GetValue(output)!;
            var net = ModelFile.Load(modelPath);
            Directory.CreateDirectory(folder);
            var written = new List<string>();
            var historyJson = TrainingHistoryFiles.JsonPath(modelPath);
            var pictures = new Pictures(net, folder);
            if (File.Exists(historyJson))
            {
                var (history, best, stopped) = TrainingHistoryFiles.ReadJson(historyJson);
                string target = Path.Combine(folder, "history.json");
                TrainingHistoryFiles.WriteJson(target, history, best, stopped);
                TrainingHistoryFiles.WriteCsv(Path.ChangeExtension(target, ".csv"), history);
                written.AddRange([target, Path.ChangeExtension(target, ".csv")]);
                pictures = pictures with { History = history };
            }
            else ctx.Line($"No training history at {historyJson} (mlconv train writes one next to the model); no curves.");
            if (r.GetValue(data) is { } dataFolder)
            {
                var (images, what) = ImageData.TestImages(ctx, dataFolder, r.GetValue(split), all: false);
                var set = ImageData.LoadFor(net, images, ctx.CancellationToken);
                var metrics = new ClassificationMetrics(net.ProbabilitiesFromPixels(set.Images), set.Labels);
                string csv = Path.Combine(folder, "confusion.csv");
                WriteConfusionCsv(csv, net.ClassNames, metrics.Confusion);
                written.Add(csv);
                pictures = pictures with { Confusion = metrics.Confusion };
                ctx.Line($"Confusion matrix on {what}: micro accuracy {metrics.MicroAccuracy:P2}");
            }
            if (r.GetValue(image) is { } imagePath) pictures = pictures with { Image = ImageData.LoadFiles(net, [imagePath]) };

            if (Renderer is { } renderer) written.AddRange(renderer.Render(pictures));
            else ctx.Line("Pictures (curves, confusion heat map, filters, feature maps) need the MLConv.Plots library, which is not part of this build; wrote the data files only.");
            foreach (string f in written) ctx.Line($"Wrote {f}");
            return Cli.Ok;
        });
        return command;
    }

    private static void WriteConfusionCsv(string path, IReadOnlyList<string> classes, int[,] confusion)
    {
        static string Cell(string s) => s.Contains(',') || s.Contains('"') ? $"\"{s.Replace("\"", "\"\"")}\"" : s;
        var sb = new System.Text.StringBuilder("true\\predicted," + string.Join(",", classes.Select(Cell)) + "\n");
        for (int c = 0; c < classes.Count; c++)
            sb.Append(Cell(classes[c])).Append(',').AppendJoin(',', Enumerable.Range(0, classes.Count).Select(j => confusion[c, j])).Append('\n');
        Training.Data.AtomicFile.Write(path, System.Text.Encoding.UTF8.GetBytes(sb.ToString()));
    }
}

/// <summary>What <c>visualize</c> hands a renderer: the model, the output folder, and whichever of the data it found.</summary>
internal sealed record Pictures(Network Network, string Folder)
{
    public IReadOnlyList<Training.Fitting.EpochMetrics>? History { get; init; }
    /// <summary>Rows: true class, columns: predicted class, indexed like the network's class names.</summary>
    public int[,]? Confusion { get; init; }
    /// <summary>One image [1, C, H, W] in 0..1 as the network takes it (for feature maps).</summary>
    public Training.Tensors.Tensor? Image { get; init; }
}

/// <summary>The hook a plotting library fills: draws PNGs of <see cref="Pictures"/> into its folder and returns their paths.</summary>
internal interface IPictureRenderer
{
    IReadOnlyList<string> Render(Pictures pictures);
}
