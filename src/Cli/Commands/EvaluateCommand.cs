using System.CommandLine;
using System.Globalization;
using MLConv.Training.Models;

namespace MLConv.Cli.Commands;

/// <summary><c>mlconv evaluate</c>: accuracies, log-loss, per-class precision and recall, and the confusion matrix on a folder's test images.</summary>
internal static class EvaluateCommand
{
    public static Command Create(CliContext ctx)
    {
        var model = CliOptions.Required("--model", "Model file (.mlconv)", "file");
        var data = CliOptions.Required("--data", "Image folder with the model's class subfolders", "folder");
        var split = CliOptions.Optional("--split", "Evaluate the test part of this split file (default: <data>/split.txt when present, else every image)", "file");
        var all = CliOptions.Flag("--all", "Evaluate every image of the folder, whatever split file there is");
        var command = new Command("evaluate", "Accuracies, log-loss, per-class precision/recall and the confusion matrix of a model on an image folder.")
        {
            model, data, split, all,
        };
        command.SetAction(r =>
        {
            var net = ModelFile.Load(r.GetValue(model)!);
            var (images, what) = ImageData.TestImages(ctx, r.GetValue(data)!, r.GetValue(split), r.GetValue(all));
            var set = ImageData.LoadFor(net, images, ctx.CancellationToken);
            var metrics = new ClassificationMetrics(net.ProbabilitiesFromPixels(set.Images), set.Labels);
            Print(ctx, net.ClassNames, metrics, $"{net.Architecture} on {what} of {r.GetValue(data)}");
            return Cli.Ok;
        });
        return command;
    }

    public static void Print(CliContext ctx, IReadOnlyList<string> classes, ClassificationMetrics m, string title)
    {
        static string P(double? v) => v is { } x ? x.ToString("P2", CultureInfo.InvariantCulture) : "-";
        ctx.Line(title);
        var summary = Tables.Create("metric", "value").RightAligned(1);
        summary.Row("images", m.Count.ToString(CultureInfo.InvariantCulture));
        summary.Row("micro accuracy", P(m.MicroAccuracy));
        summary.Row("macro accuracy", P(m.MacroAccuracy));
        summary.Row("log-loss", m.LogLoss.ToString("F4", CultureInfo.InvariantCulture));
        ctx.Console.Write(summary);

        var perClass = Tables.Create("class", "images", "precision", "recall").RightAligned(1, 2, 3);
        for (int c = 0; c < classes.Count; c++)
        {
            int n = 0;
            for (int j = 0; j < classes.Count; j++) n += m.Confusion[c, j];
            perClass.Row(classes[c], n.ToString(CultureInfo.InvariantCulture), P(m.Precision[c]), P(m.Recall[c]));
        }
        ctx.Console.Write(perClass);

        var confusion = Tables.Create(["true \\ predicted", .. classes]).RightAligned([.. Enumerable.Range(1, classes.Count)]);
        for (int c = 0; c < classes.Count; c++)
            confusion.Row([classes[c], .. Enumerable.Range(0, classes.Count).Select(j => m.Confusion[c, j].ToString(CultureInfo.InvariantCulture))]);
        ctx.Line("Confusion matrix (rows: true class, columns: predicted class)");
        ctx.Console.Write(confusion);
    }
}
