using MLConv.Training.Fitting;
using OxyPlot;
using OxyPlot.Axes;
using OxyPlot.Legends;
using OxyPlot.Series;

namespace MLConv.Plots;

/// <summary>
/// Loss and accuracy per epoch from a training history (<see cref="TrainingResult.History"/>), training against
/// validation: one line for the training data (the running mean over the epoch's batches, as the trainer reports it) and
/// one for the validation data when the run had any.
/// </summary>
public static class TrainingCurves
{
    /// <summary>Default picture width in pixels.</summary>
    public const int DefaultWidth = 720;
    /// <summary>Default picture height in pixels.</summary>
    public const int DefaultHeight = 420;

    /// <summary>Training and validation loss (cross-entropy) per epoch.</summary>
    /// <param name="history">One entry per finished epoch, in order.</param>
    /// <param name="validationName">The legend of the validation line (e.g. "held-out").</param>
    public static PlotModel LossChart(IReadOnlyList<EpochMetrics> history, string validationName = "validation") =>
        Chart(history, "Loss", "cross-entropy", m => m.Loss, m => m.ValidationLoss, validationName, percent: false);

    /// <summary>Training and validation accuracy (in %) per epoch.</summary>
    /// <param name="history">One entry per finished epoch, in order.</param>
    /// <param name="validationName">The legend of the validation line (e.g. "held-out").</param>
    public static PlotModel AccuracyChart(IReadOnlyList<EpochMetrics> history, string validationName = "validation") =>
        Chart(history, "Accuracy", "accuracy (%)", m => m.Accuracy, m => m.ValidationAccuracy, validationName, percent: true);

    /// <summary>Writes <see cref="LossChart"/> as a PNG (atomically).</summary>
    public static void WriteLoss(IReadOnlyList<EpochMetrics> history, string path, string validationName = "validation", int width = DefaultWidth, int height = DefaultHeight) =>
        ChartFile.SavePng(LossChart(history, validationName), path, width, height);

    /// <summary>Writes <see cref="AccuracyChart"/> as a PNG (atomically).</summary>
    public static void WriteAccuracy(IReadOnlyList<EpochMetrics> history, string path, string validationName = "validation", int width = DefaultWidth, int height = DefaultHeight) =>
        ChartFile.SavePng(AccuracyChart(history, validationName), path, width, height);

    private static PlotModel Chart(IReadOnlyList<EpochMetrics> history, string title, string yTitle, Func<EpochMetrics, double> train,
        Func<EpochMetrics, double?> validation, string validationName, bool percent)
    {
        ArgumentNullException.ThrowIfNull(history);
        ArgumentNullException.ThrowIfNull(validationName);
        if (history.Count == 0) throw new ArgumentException("The history has no epoch to draw.", nameof(history));
        double scale = percent ? 100 : 1;
        var model = new PlotModel { Title = title, Background = OxyColors.White, DefaultFont = Fonts.Sans };
        model.Legends.Add(new Legend { LegendPosition = percent ? LegendPosition.RightBottom : LegendPosition.RightTop, LegendBackground = OxyColor.FromAColor(200, OxyColors.White) });
        model.Axes.Add(new LinearAxis
        {
            Position = AxisPosition.Bottom, Title = "epoch", Minimum = history[0].Epoch - 0.2, Maximum = history[^1].Epoch + 0.2,
            MajorStep = Math.Max(1, Math.Ceiling(history.Count / 15.0)), MinorStep = 1, MajorGridlineStyle = LineStyle.Dot,
        });
        model.Axes.Add(new LinearAxis { Position = AxisPosition.Left, Title = yTitle, MajorGridlineStyle = LineStyle.Dot, MinorGridlineStyle = LineStyle.None });
        var trainLine = new LineSeries { Title = "training", Color = OxyColor.FromRgb(31, 119, 180), MarkerType = MarkerType.Circle, MarkerSize = 3, StrokeThickness = 2 };
        var validLine = new LineSeries { Title = validationName, Color = OxyColor.FromRgb(255, 127, 14), MarkerType = MarkerType.Square, MarkerSize = 3, StrokeThickness = 2 };
        foreach (var m in history)
        {
            double t = train(m);
            if (!double.IsFinite(t)) throw new ArgumentException($"Epoch {m.Epoch} has a non-finite {title.ToLowerInvariant()} ({t}).", nameof(history));
            trainLine.Points.Add(new DataPoint(m.Epoch, t * scale));
            if (validation(m) is { } v && double.IsFinite(v)) validLine.Points.Add(new DataPoint(m.Epoch, v * scale));
        }
        model.Series.Add(trainLine);
        if (validLine.Points.Count > 0) model.Series.Add(validLine);
        return model;
    }
}
