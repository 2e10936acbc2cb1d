using System.CommandLine;
using System.Globalization;
using MLConv.Training.Models;

namespace MLConv.Cli.Commands;

/// <summary><c>mlconv predict &lt;image...&gt;</c>: the top-k classes of each image with their probabilities.</summary>
internal static class PredictCommand
{
    public static Command Create(CliContext ctx)
    {
        var images = new Argument<string[]>("images") { Description = "PNG, JPEG or BMP files", Arity = ArgumentArity.OneOrMore };
        var model = CliOptions.Required("--model", "Model file (.mlconv)", "file");
        var top = CliOptions.Int("--top", 3, 1, 1000, "How many classes to show per image");
        var command = new Command("predict", "Classify images: the top-k classes with their probabilities.") { images, model, top };
        command.SetAction(r =>
        {
            var net = ModelFile.Load(r.GetValue(model)!);
            string[] paths = r.GetValue(images)!;
            int k = Math.Min(r.GetValue(top), net.NumClasses);
            var probabilities = net.ProbabilitiesFromPixels(ImageData.LoadFiles(net, paths));
            var table = Tables.Create(["image", .. Enumerable.Range(1, k).Select(i => $"#{i}")]);
            for (int i = 0; i < paths.Length; i++)
            {
                var p = probabilities.Data.AsSpan(i * net.NumClasses, net.NumClasses).ToArray();
                var best = Enumerable.Range(0, net.NumClasses).OrderByDescending(c => p[c]).ThenBy(c => c).Take(k);
                table.Row([paths[i], .. best.Select(c => string.Create(CultureInfo.InvariantCulture, $"{net.ClassNames[c]} {p[c]:P1}"))]);
            }
            ctx.Console.Write(table);
            return Cli.Ok;
        });
        return command;
    }
}
