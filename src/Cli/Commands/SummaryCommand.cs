using System.CommandLine;
using System.Globalization;
using MLConv.Training.Models;

namespace MLConv.Cli.Commands;

/// <summary><c>mlconv summary</c>: per layer the output shape, parameters, multiply-accumulates and receptive field.</summary>
internal static class SummaryCommand
{
    public static Command Create(CliContext ctx)
    {
        var model = CliOptions.Required("--model", "Model file (.mlconv)", "file");
        var batch = CliOptions.Int("--batch", 1, 1, 65_536, "Batch size the shapes and mult-adds are given for");
        var command = new Command("summary", "Per layer: output shape, parameters, multiply-accumulates, receptive field; totals.") { model, batch };
        command.SetAction(r =>
        {
            var net = ModelFile.Load(r.GetValue(model)!);
            var s = net.Summary(r.GetValue(batch));
            ctx.Line($"{net.Architecture}: input [{net.Channels}, {net.Height}, {net.Width}], {net.NumClasses} classes ({string.Join(", ", net.ClassNames)}); " +
                     $"normalisation mean [{string.Join(", ", net.Normalization.Mean.Select(F))}] std [{string.Join(", ", net.Normalization.Std.Select(F))}]");
            var table = Tables.Create("layer", "path", "output shape", "params", "mult-adds", "RF").RightAligned(3, 4, 5);
            foreach (var row in s.Rows)
                table.Row(new string(' ', 2 * row.Depth) + row.Layer, row.Path, $"[{string.Join(", ", row.OutputShape)}]", N(row.Parameters),
                    N(row.MultiplyAccumulates), $"{row.ReceptiveField.H}x{row.ReceptiveField.W}");
            ctx.Console.Write(table);
            ctx.Line(string.Create(CultureInfo.InvariantCulture,
                $"Total params: {s.TotalParameters:N0} ({s.TotalParameters * 4 / 1024.0 / 1024.0:F2} MiB float32); total mult-adds: {s.TotalMultiplyAccumulates:N0}"));
            return Cli.Ok;
        });
        return command;
    }

    private static string N(long v) => v == 0 ? "--" : v.ToString("N0", CultureInfo.InvariantCulture);
    private static string F(float v) => v.ToString("G4", CultureInfo.InvariantCulture);
}
