using System.CommandLine;
using MLConv.Plots;
using MLConv.Training.Fitting;
using MLConv.Training.Models;

namespace MLConv.Cli.Commands;

/// <summary>
/// <c>mlconv visualize</c>: the pictures of a trained model in one folder, drawn by MLConv.Plots — loss and accuracy
/// curves from its training history (<c>&lt;model&gt;.history.json</c>, copied as CSV and JSON), the confusion matrix on a
/// folder's test images (heat map and CSV), the first convolution's filters, and the feature maps of one image.
/// </summary>
internal static class VisualizeCommand
{
    public static Command Create(CliContext ctx)
    {
        var model = CliOptions.Required("--model", "Model file (.mlconv); its history is read from <model>.history.json", "file");
        var data = CliOptions.Optional("--data", "Image folder for the confusion matrix (its test images, as evaluate picks them)", "folder");
        var split = CliOptions.Optional("--split", "Split file whose test part is used", "file");
        var image = CliOptions.Optional("--image", "Image whose feature maps are drawn", "file");
        var output = CliOptions.Required("--out", "Folder to write into", "folder");
        var command = new Command("visualize", "PNG pictures of a model: training curves, confusion matrix, first-layer filters, feature maps.")
        {
            model, data, split, image, output,
        };
        command.SetAction(r =>
        {
            string modelPath = r.GetValue(model)!, folder = r.GetValue(output)!;
            var net = ModelFile.Load(modelPath);
            Directory.CreateDirectory(folder);
            var written = new List<string>();
            void Add(string name, Action<string> write)
            {
                string path = Path.Combine(folder, name);
                write(path);
                written.Add(path);
            }

            string historyJson = TrainingHistoryFiles.JsonPath(modelPath);
            if (File.Exists(historyJson))
            {
                var history = TrainingHistoryFile.ReadJson(historyJson);
                Add("history.json", p => TrainingHistoryFile.WriteJson(history, p));
                Add("history.csv", p => TrainingHistoryFile.WriteCsv(history, p));
                Add("loss.png", p => TrainingCurves.WriteLoss(history, p, "test"));
                Add("accuracy.png", p => TrainingCurves.WriteAccuracy(history, p, "test"));
            }
            else ctx.Line($"No training history at {historyJson} (mlconv train writes one next to the model): no curves.");
            if (r.GetValue(data) is { } dataFolder)
            {
                var (images, what) = ImageData.TestImages(ctx, dataFolder, r.GetValue(split), all: false);
                var set = ImageData.LoadFor(net, images, ctx.CancellationToken);
                var metrics = new ClassificationMetrics(net.ProbabilitiesFromPixels(set.Images), set.Labels);
                int k = net.NumClasses;
                var counts = Enumerable.Range(0, k).Select(c => (IReadOnlyList<double>)[.. Enumerable.Range(0, k).Select(j => (double)metrics.Confusion[c, j])]).ToList();
                Add("confusion.csv", p => WriteConfusionCsv(p, net.ClassNames, metrics.Confusion));
                Add("confusion.png", p => ConfusionMatrixChart.Write(counts, net.ClassNames, p, title: $"Confusion matrix ({metrics.MicroAccuracy:P1})"));
                ctx.Line($"Confusion matrix on {what}: micro accuracy {metrics.MicroAccuracy:P2}");
            }
            if (net.Root.Descendants().OfType<Training.Layers.Conv2d>().Any()) Add("filters.png", p => FilterGrid.Write(net, p));
            if (r.GetValue(image) is { } imagePath) Add("feature-maps.png", p => FeatureMaps.Write(net, ImageData.LoadFiles(net, [imagePath]), p));
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
