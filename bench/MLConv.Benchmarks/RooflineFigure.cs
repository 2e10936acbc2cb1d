using MLConv.Plots;
using OxyPlot;
using OxyPlot.Axes;
using OxyPlot.Legends;
using OxyPlot.Series;

namespace MLConv.Benchmarks;

/// <summary>
/// The roofline picture of a run: log-log, arithmetic intensity (FLOP/byte) across, GFLOP/s up; the roof is
/// min(FMA peak, intensity × triad bandwidth), both measured in the same run on all threads; one point per measured
/// operation for MLConv and one for its peer, joined by a thin line so each pair reads at a glance.
/// </summary>
public static class RooflineFigure
{
    public static void Write(IReadOnlyList<(string Case, double Intensity, double MLConv, double Peer)> points, double peak, double bandwidth,
        string title, string path)
    {
        if (points.Count == 0 || peak <= 0 || bandwidth <= 0) return;
        var model = new PlotModel { Title = title, TitleFontSize = 14, DefaultFont = OperatingSystem.IsLinux() ? "DejaVu Sans" : null };
        model.Legends.Add(new Legend { LegendPosition = LegendPosition.BottomRight, LegendBackground = OxyColor.FromAColor(220, OxyColors.White) });
        double ridge = peak / bandwidth, xMin = Math.Max(0.1, Math.Min(points.Min(p => p.Intensity) / 2, ridge / 4)), xMax = Math.Max(points.Max(p => p.Intensity) * 2, 2 * peak / bandwidth);
        double yMin = Math.Max(0.5, Math.Min(points.Min(p => Math.Min(p.MLConv, p.Peer)) / 2, xMin * bandwidth)), yMax = peak * 1.6;
        model.Axes.Add(new LogarithmicAxis { Position = AxisPosition.Bottom, Title = "arithmetic intensity (FLOP / byte of least traffic)", Minimum = xMin, Maximum = xMax, MajorGridlineStyle = LineStyle.Dot });
        model.Axes.Add(new LogarithmicAxis { Position = AxisPosition.Left, Title = "GFLOP/s (all threads)", Minimum = yMin, Maximum = yMax, MajorGridlineStyle = LineStyle.Dot });
        var roof = new LineSeries { Title = $"roof: {peak:F0} GFLOP/s, {bandwidth:F0} GB/s", Color = OxyColors.Black, StrokeThickness = 2 };
        roof.Points.Add(new DataPoint(xMin, xMin * bandwidth));
        roof.Points.Add(new DataPoint(ridge, peak));
        roof.Points.Add(new DataPoint(xMax, peak));
        model.Series.Add(roof);
        foreach (var p in points)
        {
            var pair = new LineSeries { Color = OxyColor.FromAColor(90, OxyColors.Gray), StrokeThickness = 1 };
            pair.Points.Add(new DataPoint(p.Intensity, p.MLConv));
            pair.Points.Add(new DataPoint(p.Intensity, p.Peer));
            model.Series.Add(pair);
        }
        var ml = new ScatterSeries { Title = "MLConv", MarkerType = MarkerType.Circle, MarkerSize = 4, MarkerFill = OxyColor.FromRgb(31, 119, 180) };
        var peer = new ScatterSeries { Title = "peer (libtorch)", MarkerType = MarkerType.Diamond, MarkerSize = 4, MarkerFill = OxyColor.FromRgb(255, 127, 14) };
        foreach (var p in points)
        {
            ml.Points.Add(new ScatterPoint(p.Intensity, p.MLConv));
            peer.Points.Add(new ScatterPoint(p.Intensity, p.Peer));
        }
        model.Series.Add(ml);
        model.Series.Add(peer);
        ChartFile.SavePng(model, path, 900, 600);
    }
}
