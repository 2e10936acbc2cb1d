namespace MLConv.Cli;

/// <summary>
/// The <c>mlconv</c> executable: <see cref="Cli.Run"/> on the process's console. The first Ctrl+C cancels the running
/// command (train saves its checkpoint and exits with 130); a second one ends the process at once.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        using var cancel = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            if (cancel.IsCancellationRequested) return;
            e.Cancel = true;
            cancel.Cancel();
        };
        return Cli.Run(args, Console.Out, Console.Error, cancel.Token, interactive: !Console.IsOutputRedirected);
    }
}
