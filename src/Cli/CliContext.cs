using Spectre.Console;

namespace MLConv.Cli;

/// <summary>Where a command writes and what stops it: the output console (Spectre), the error writer, Ctrl+C's token.</summary>
internal sealed class CliContext
{
    public CliContext(TextWriter output, TextWriter error, CancellationToken cancellationToken, bool interactive)
    {
        _output = output;
        Error = error;
        CancellationToken = cancellationToken;
        Interactive = interactive;
        Console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(output),
            Ansi = interactive ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = interactive ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = interactive ? InteractionSupport.Detect : InteractionSupport.No,
        });
        if (!interactive) Console.Profile.Width = 160;
    }

    private readonly TextWriter _output;

    public IAnsiConsole Console { get; }
    public TextWriter Error { get; }
    public CancellationToken CancellationToken { get; }
    /// <summary>A terminal: live progress bars; otherwise one plain line per epoch.</summary>
    public bool Interactive { get; }

    /// <summary>
    /// A line of plain text (no markup): through Spectre in a terminal (so it lands above a live progress display),
    /// else straight to the output, never wrapped.
    /// </summary>
    public void Line(string text = "")
    {
        if (Interactive) Console.WriteLine(text);
        else _output.WriteLine(text);
    }
}

/// <summary>A command line that parses but cannot be carried out as given (exit code 2).</summary>
internal sealed class UsageException(string message) : Exception(message);
