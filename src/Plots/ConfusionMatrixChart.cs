using OxyPlot;
using OxyPlot.Annotations;
using OxyPlot.Axes;
using OxyPlot.Series;

namespace MLConv.Plots;

/// <summary>
/// A confusion matrix as a heat map: one row per actual class (top to bottom), one column per predicted class, each
/// cell coloured by its count and labelled with it (white on dark cells, black on light ones). Takes the counts as ML.NET's <c>ConfusionMatrix.Counts</c> holds
/// them (<c>counts[actual][predicted]</c>).
/// </summary>
public static class ConfusionMatrixChart
{
    /// <summary>The heat map of <paramref name="counts"/> (<c>counts[actual][predicted]</c>, finite and ≥ 0) with <paramref name="classNames"/> on both axes.</summary>
    /// <exception cref="ArgumentException">The matrix is not square, does not match the class names, or holds a negative or non-finite count.</exception>
    public static PlotModel Create(IReadOnlyList<IReadOnlyList<double>> counts, IReadOnlyList<string> classNames, string title = "Confusion matrix")
    {
        ArgumentNullException.ThrowIfNull(counts);
        ArgumentNullException.ThrowIfNull(classNames);
        int k = classNames.Count;
        if (k < 1) throw new ArgumentException("At least one class name is needed.", nameof(classNames));
        if (counts.Count != k || counts.Any(row => row is null || row.Count != k))
            throw new ArgumentException($"counts must be {k}x{k} (one row and one column per class name); got {counts.Count} rows of {string.Join("/", counts.Select(r => r?.Count ?? 0).Distinct())}.", nameof(counts));
        var data = new double[k, k];   // [x = predicted, y = actual]
        for (int a = 0; a < k; a++)
            for (int p = 0; p < k; p++)
            {
                double v = counts[a][p];
                if (!(v >= 0) || double.IsInfinity(v)) throw new ArgumentException($"counts[{a}][{p}] is {v}; counts must be finite and >= 0.", nameof(counts));
                data[p, a] = v;
            }

        var model = new PlotModel { Title = title, Background = OxyColors.White, DefaultFont = Fonts.Sans };
        model.Axes.Add(new CategoryAxis { Position = AxisPosition.Bottom, Title = "predicted", Key = "x", ItemsSource = classNames.ToArray(), GapWidth = 0 });
        // Actual classes top to bottom, as a table reads.
        model.Axes.Add(new CategoryAxis { Position = AxisPosition.Left, Title = "actual", Key = "y", ItemsSource = classNames.ToArray(), GapWidth = 0, StartPosition = 1, EndPosition = 0 });
        double max = Math.Max(1, data.Cast<double>().Max());
        model.Axes.Add(new LinearColorAxis
        {
            Position = AxisPosition.Right, Key = "color", Minimum = 0, Maximum = max,
            Palette = OxyPalette.Interpolate(200, OxyColors.White, OxyColor.FromRgb(198, 219, 239), OxyColor.FromRgb(66, 146, 198), OxyColor.FromRgb(8, 48, 107)),
        });
        model.Series.Add(new HeatMapSeries
        {
            X0 = 0, X1 = k - 1, Y0 = 0, Y1 = k - 1, XAxisKey = "x", YAxisKey = "y", ColorAxisKey = "color", Data = data,
            CoordinateDefinition = HeatMapCoordinateDefinition.Center, RenderMethod = HeatMapRenderMethod.Rectangles,
            Interpolate = false,
        });
        // Each count in its cell, white on the dark half of the palette and black on the light half.
        double fontSize = Math.Clamp(160.0 / k, 7, 16);
        for (int a = 0; a < k; a++)
            for (int p = 0; p < k; p++)
                model.Annotations.Add(new TextAnnotation
                {
                    Text = data[p, a].ToString("0.##", System.Globalization.CultureInfo.InvariantCulture), TextPosition = new DataPoint(p, a),
                    XAxisKey = "x", YAxisKey = "y", FontSize = fontSize, Stroke = OxyColors.Transparent, StrokeThickness = 0,
                    TextHorizontalAlignment = HorizontalAlignment.Center, TextVerticalAlignment = VerticalAlignment.Middle,
                    TextColor = data[p, a] > max / 2 ? OxyColors.White : OxyColors.Black,
                });
        return model;
    }

    /// <summary>Writes <see cref="Create"/> as a PNG (atomically), <paramref name="size"/> pixels wide and high.</summary>
    public static void Write(IReadOnlyList<IReadOnlyList<double>> counts, IReadOnlyList<string> classNames, string path, int size = 560, string title = "Confusion matrix") =>
        ChartFile.SavePng(Create(counts, classNames, title), path, size + 60, size);
}
