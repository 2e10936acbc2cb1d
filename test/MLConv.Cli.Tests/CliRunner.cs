using System.Text;

namespace MLConv.Cli.Tests;

/// <summary>What one in-process <c>mlconv</c> command line returned and printed.</summary>
internal sealed record CliResult(int ExitCode, string Out, string Err)
{
    public string[] ErrLines => Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    public override string ToString() => $"exit {ExitCode}\n--- out\n{Out}\n--- err\n{Err}";
}

internal static class CliRunner
{
    public static CliResult Run(params string[] args) => Run(CancellationToken.None, null, args);

    /// <summary>Runs with <paramref name="token"/>; <paramref name="onOutput"/> sees the output text so far after each write.</summary>
    public static CliResult Run(CancellationToken token, Action<string>? onOutput, params string[] args)
    {
        var output = new WatchedWriter(onOutput);
        var error = new StringWriter();
        int rc = Cli.Run(args, output, error, token);
        return new CliResult(rc, output.ToString(), error.ToString());
    }

    public static CliResult Ok(params string[] args)
    {
        var r = Run(args);
        Assert.AreEqual(Cli.Ok, r.ExitCode, r.ToString());
        return r;
    }

    private sealed class WatchedWriter(Action<string>? onOutput) : StringWriter
    {
        public override void Write(char value) { base.Write(value); if (value == '\n') onOutput?.Invoke(ToString()); }
        public override void Write(string? value) { base.Write(value); if (value?.Contains('\n') == true) onOutput?.Invoke(ToString()); }
        public override void WriteLine(string? value) { base.WriteLine(value); onOutput?.Invoke(ToString()); }
    }
}
