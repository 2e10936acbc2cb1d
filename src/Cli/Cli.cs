using System.CommandLine;
using MLConv.Cli.Commands;

namespace MLConv.Cli;

/// <summary>
/// <c>mlconv &lt;command&gt; [options]</c> on System.CommandLine. Exit codes: <see cref="Ok"/> 0, <see cref="Failure"/> 1
/// (one line on the error writer; the stack trace too with <c>--verbose</c>), <see cref="Usage"/> 2 (an unknown
/// command or option, a value out of range or not among the choices), <see cref="Interrupted"/> 130 (Ctrl+C).
/// </summary>
public static class Cli
{
    public const int Ok = 0, Failure = 1, Usage = 2, Interrupted = 130;

    /// <summary>Runs one command line in-process, writing to <paramref name="output"/> and <paramref name="error"/>.</summary>
    public static int Run(string[] args, TextWriter output, TextWriter error, CancellationToken cancellationToken = default, bool interactive = false)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        var context = new CliContext(output, error, cancellationToken, interactive);
        var verbose = new Option<bool>("--verbose") { Description = "Print the stack trace of a failure", Recursive = true };
        var root = new RootCommand("mlconv: convolutional networks on image folders (one subfolder per class) in pure C#; ONNX export, import and ONNX Runtime checks.")
        {
            TrainCommand.Create(context),
            EvaluateCommand.Create(context),
            PredictCommand.Create(context),
            ExportCommand.Create(context),
            VerifyCommand.Create(context),
            ImportCommand.Create(context),
            SummaryCommand.Create(context),
            VisualizeCommand.Create(context),
            FiltersCommand.Create(context),
            PrepareMnistCommand.Create(context),
        };
        root.Options.Add(verbose);

        var parse = root.Parse(args);
        string verb = parse.CommandResult.Command == root ? "mlconv" : $"mlconv {parse.CommandResult.Command.Name}";
        if (parse.Errors.Count > 0 && parse.Action is not { ClearsParseErrors: true })
        {
            foreach (var e in parse.Errors) error.WriteLine($"{verb}: {e.Message}");
            error.WriteLine($"Run '{verb} --help' for usage.");
            return Usage;
        }
        try
        {
            return parse.Invoke(new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null });
        }
        catch (UsageException e)
        {
            error.WriteLine($"{verb}: {e.Message}");
            error.WriteLine($"Run '{verb} --help' for usage.");
            return Usage;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            error.WriteLine($"{verb}: interrupted.");
            return Interrupted;
        }
        catch (Exception e)
        {
            var shown = e is AggregateException { InnerExceptions.Count: 1 } a ? a.InnerExceptions[0] : e;
            error.WriteLine($"{verb}: {OneLine(shown.Message)}");
            if (parse.GetValue(verbose)) error.WriteLine(shown.ToString());
            return Failure;
        }
    }

    private static string OneLine(string message) => string.Join(" ", message.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
}
