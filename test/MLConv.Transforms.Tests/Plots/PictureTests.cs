using Microsoft.ML;
using Microsoft.ML.Data;
using MLConv.Plots;
using MLConv.Tests.Data;
using MLConv.Training.Data;
using MLConv.Training.Fitting;
using MLConv.Training.Models;
using MLConv.Training.Tensors;
using OxyPlot;

namespace MLConv.Transforms.Tests.Plots;

/// <summary>
/// The pictures of MLConv.Plots, decoded with MLConv's own PNG reader. These tests live in the Transforms test project
/// on purpose: the process also runs ML.NET's ImageAnalytics (SkiaSharp's NoDependencies native library), which is the
/// combination an application that draws its training meets.
/// </summary>
[TestClass]
public sealed class PictureTests
{
    private static readonly EpochMetrics[] History =
    [
        new(1, 1.9, 0.40, 1.7, 0.45, 1e-3, 1), new(2, 1.1, 0.66, 1.2, 0.62, 2e-3, 1),
        new(3, 0.6, 0.82, 0.8, 0.75, 1e-3, 1), new(4, 0.35, 0.90, 0.7, 0.78, 5e-4, 1),
    ];

    private static readonly (byte R, byte G, byte B) TrainBlue = (31, 119, 180), ValidationOrange = (255, 127, 14);

    [TestMethod]
    public void CurvesAreValidPngsWithOneLinePerDataSet()
    {
        using var dir = new TempFolder();
        TrainingCurves.WriteLoss(History, dir["loss.png"], width: 500, height: 300);
        TrainingCurves.WriteAccuracy(History, dir["accuracy.png"]);
        TrainingCurves.WriteLoss([.. History.Select(m => m with { ValidationLoss = null, ValidationAccuracy = null })], dir["train-only.png"], width: 500, height: 300);

        var loss = Decode(dir["loss.png"], 500, 300);
        Decode(dir["accuracy.png"], TrainingCurves.DefaultWidth, TrainingCurves.DefaultHeight);
        var trainOnly = Decode(dir["train-only.png"], 500, 300);
        Assert.IsTrue(Count(loss, TrainBlue) > 100 && Count(loss, ValidationOrange) > 100, "both lines drawn");
        Assert.IsTrue(Count(trainOnly, TrainBlue) > 100, "training line drawn");
        Assert.AreEqual(0, Count(trainOnly, ValidationOrange), "no validation line without validation data");
        Assert.AreEqual(3, Directory.GetFiles(dir.Path).Length, "no temp file left behind");
        Assert.ThrowsExactly<ArgumentException>(() => TrainingCurves.LossChart([]));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => TrainingCurves.WriteLoss(History, dir["x.png"], width: 0));
    }

    [TestMethod]
    public void TextIsRenderedBesideImageAnalytics()
    {
        // ImageAnalytics first: LoadImages + ExtractPixels load SkiaSharp's native library in this process.
        using var dir = new TempFolder();
        Png.Write(dir["a.png"], [0, 255, 128, 64], 2, 2, 1);
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(new[] { new PathRow { ImagePath = dir["a.png"] } });
        var pixels = ml.Transforms.LoadImages("Image", null, "ImagePath").Append(ml.Transforms.ResizeImages("Image", 2, 2, "Image")).Append(ml.Transforms.ExtractPixels("Features", "Image"))
            .Fit(data).Transform(data).GetColumn<float[]>("Features").Single();
        Assert.AreEqual(12, pixels.Length);

        // A chart that is nothing but a title: any dark pixel is text.
        var titleOnly = new PlotModel { Title = "Text renders" };
        ChartFile.SavePng(titleOnly, dir["title.png"], 300, 80);
        var empty = new PlotModel();
        ChartFile.SavePng(empty, dir["empty.png"], 300, 80);
        Assert.IsTrue(Dark(Decode(dir["title.png"], 300, 80)) > 50, "the title's glyphs are drawn");
        Assert.AreEqual(0, Dark(Png.Read(dir["empty.png"])), "an empty chart is blank");
    }

    [TestMethod]
    public void ConfusionMatrixIsAHeatMapWithCountsAndChecksItsInput()
    {
        using var dir = new TempFolder();
        double[][] counts = [[50, 2, 0], [3, 40, 7], [0, 1, 60]];
        ConfusionMatrixChart.Write(counts, ["bar", "cross", "ring"], dir["cm.png"], size: 400);
        var image = Decode(dir["cm.png"], 460, 400);
        Assert.IsTrue(Count(image, (8, 48, 107), tolerance: 12) > 200, "the largest count's cell is dark blue");

        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => ConfusionMatrixChart.Create(counts, ["a", "b"])).Message, "3 rows");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => ConfusionMatrixChart.Create([[1, -1], [0, 1]], ["a", "b"])).Message, "counts[0][1]");
    }

    [TestMethod]
    public void FirstConvolutionFiltersAreDrawnOnePerTile()
    {
        using var dir = new TempFolder();
        var gray = Architectures.LeNet5(seed: 3);
        FilterGrid.Write(gray, dir["lenet.png"], cellSize: 30);
        var image = Png.Read(dir["lenet.png"]);
        Assert.IsTrue(image.Width >= 6 * 30 && image.Height > 30, $"{image.Width}x{image.Height}");
        Assert.IsTrue(Distinct(image) > 20);
        Assert.AreSame(gray.Root[0], FilterGrid.FirstConvolution(gray));

        // RGB filters: the colour tiles hold pixels whose channels differ.
        var rgb = Architectures.ResNet(3, 16, 16, 4, seed: 1);
        using var bitmap = FilterGrid.Render(FilterGrid.FirstConvolution(rgb), cellSize: 24);
        ChartFile.SavePng(bitmap, dir["resnet.png"]);
        var colour = Decode(dir["resnet.png"], bitmap.Width, bitmap.Height);
        Assert.IsTrue(Pixels(colour).Count(p => Math.Abs(p.R - p.G) > 30 || Math.Abs(p.G - p.B) > 30) > 100, "colour filters");
        var noConv = new Network(new Training.Layers.Sequential(new Training.Layers.Flatten(), new Training.Layers.Linear(4, 2)), 1, 2, 2);
        Assert.ThrowsExactly<ArgumentException>(() => FilterGrid.FirstConvolution(noConv));
    }

    [TestMethod]
    public void FeatureMapsHaveOneStagePerResolution()
    {
        var net = Architectures.LeNet5(seed: 2);
        var pixels = new Tensor(1, 1, 28, 28);
        for (int y = 6; y < 22; y++) pixels[0, 0, y, 14] = 255;   // a vertical stroke
        var stages = FeatureMaps.Stages(net, pixels);
        CollectionAssert.AreEqual(new[] { "[1, 6, 28, 28]", "[1, 6, 14, 14]", "[1, 16, 10, 10]", "[1, 16, 5, 5]" }, stages.Select(s => $"[{s.Activations.ShapeString}]").ToArray());
        StringAssert.Contains(stages[0].Name, "ReLU");
        StringAssert.Contains(stages[1].Name, "MaxPool2d");
        // The first stage is ReLU(conv(normalised input)): recompute it directly.
        var x = pixels.Clone();
        net.Normalize(x);
        var conv = net.Root[0].Forward(x, false);
        for (int i = 0; i < conv.Length; i++) Assert.AreEqual(Math.Max(0, conv[i]), stages[0].Activations[i], 1e-6);

        using var dir = new TempFolder();
        FeatureMaps.Write(net, pixels, dir["maps.png"], maxChannels: 6, cellSize: 40);
        var image = Png.Read(dir["maps.png"]);
        Assert.IsTrue(image.Height > 5 * 40 && Distinct(image) > 20, $"{image.Width}x{image.Height}");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => FeatureMaps.Stages(net, new Tensor(2, 1, 28, 28))).Message, "[1, 1, 28, 28]");
    }

    private static PngImage Decode(string path, int width, int height)
    {
        var image = Png.Read(path);
        Assert.AreEqual(width, image.Width, path);
        Assert.AreEqual(height, image.Height, path);
        Assert.IsTrue(Distinct(image) > 1, $"{path}: every pixel has one colour");
        return image;
    }

    private static IEnumerable<(byte R, byte G, byte B)> Pixels(PngImage image)
    {
        int c = image.Channels;
        for (int i = 0; i < image.Width * image.Height; i++)
            yield return c >= 3 ? (image.Pixels[i * c], image.Pixels[i * c + 1], image.Pixels[i * c + 2]) : (image.Pixels[i * c], image.Pixels[i * c], image.Pixels[i * c]);
    }

    private static int Distinct(PngImage image) => Pixels(image).Distinct().Count();

    private static int Dark(PngImage image) => Pixels(image).Count(p => p.R + p.G + p.B < 300);

    private static int Count(PngImage image, (byte R, byte G, byte B) colour, int tolerance = 6) =>
        Pixels(image).Count(p => Math.Abs(p.R - colour.R) <= tolerance && Math.Abs(p.G - colour.G) <= tolerance && Math.Abs(p.B - colour.B) <= tolerance);

    private sealed class PathRow
    {
        public string ImagePath { get; set; } = "";
    }
}
