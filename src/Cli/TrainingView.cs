using MLConv.Training.Fitting;
using Spectre.Console;

namespace MLConv.Cli;

/// <summary>
/// Training progress on the console. In a terminal, a live Spectre progress bar whose line shows epoch and batch,
/// running loss and accuracy, images per second and the trainer's ETA, with one line printed above it per finished
/// epoch; elsewhere (redirected output, tests) only the epoch lines.
/// </summary>
internal sealed class TrainingView : IProgress<TrainingProgress>
{
    private readonly CliContext _ctx;
    private readonly ProgressTask? _task;

    private TrainingView(CliContext ctx, ProgressTask? task) => (_ctx, _task) = (ctx, task);

    /// <summary>The last finished epoch (0 before the first ends).</summary>
    public int LastEpoch { get; private set; }

    public void Report(TrainingProgress p)
    {
        if (p.Kind == ProgressKind.Epoch)
        {
            LastEpoch = p.Epoch;
            _ctx.Line(p.ToString());
        }
        if (_task is null) return;
        _task.MaxValue = (double)p.Epochs * p.BatchesPerEpoch;
        _task.Value = (double)(p.Epoch - 1) * p.BatchesPerEpoch + p.Batch;
        _task.Description = Markup.Escape(FormattableString.Invariant(
            $"epoch {p.Epoch}/{p.Epochs} batch {p.Batch}/{p.BatchesPerEpoch}  loss {p.Loss:F4}  acc {p.Accuracy:P1}  {p.ExamplesPerSecond:F0} img/s  ETA {p.Eta:hh\\:mm\\:ss}"));
    }

    /// <summary>Runs <paramref name="work"/> with a view: inside a live progress display in a terminal.</summary>
    public static T Run<T>(CliContext ctx, Func<TrainingView, T> work)
    {
        if (!ctx.Interactive) return work(new TrainingView(ctx, null));
        return ctx.Console.Progress()
            .AutoClear(false)
            .HideCompleted(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new SpinnerColumn())
            .Start(c => work(new TrainingView(ctx, c.AddTask("starting"))));
    }

    /// <summary>Runs <paramref name="work"/> reporting (done, total) steps of a named stage: a bar in a terminal, a line at the end elsewhere.</summary>
    public static T Stage<T>(CliContext ctx, string name, Func<IProgress<(int Done, int Total)>, T> work)
    {
        if (!ctx.Interactive)
        {
            var result = work(new Progress<(int, int)>(_ => { }));
            ctx.Line($"{name}: done.");
            return result;
        }
        var done = ctx.Console.Progress()
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(c =>
            {
                var task = c.AddTask(Markup.Escape(name));
                return work(new SyncProgress(d => { task.MaxValue = d.Total; task.Value = d.Done; }));
            });
        ctx.Line($"{name}: done.");
        return done;
    }

    /// <summary>Reports on the caller's thread (<see cref="Progress{T}"/> posts to the thread pool).</summary>
    private sealed class SyncProgress(Action<(int Done, int Total)> report) : IProgress<(int Done, int Total)>
    {
        public void Report((int Done, int Total) value) => report(value);
    }
}
