using MLConv.Tests.Data;
using MLConv.Training.Data;
using MLConv.Training.Models;
using MLConv.Training.Tensors;

namespace MLConv.Cli.Tests;

/// <summary>evaluate, predict, summary, export, verify, import, visualize, filters and prepare-mnist on the shared tiny model.</summary>
[TestClass]
public sealed class ModelCommandTests
{
    [TestMethod]
    public void EvaluatePrintsAccuraciesLogLossAndTheConfusionMatrixOfTheNetwork()
    {
        var r = CliRunner.Ok("evaluate", "--model", SharedModel.Model, "--data", SharedModel.Images.Root, "--all");
        StringAssert.Contains(r.Out, "on all 16 images");
        StringAssert.Contains(r.Out, "micro accuracy");
        StringAssert.Contains(r.Out, "log-loss");
        StringAssert.Contains(r.Out, "Confusion matrix");

        // The figures are the network's own on the same pixels.
        var net = ModelFile.Load(SharedModel.Model);
        var set = ImageFolder.Scan(SharedModel.Images.Root).Load(net.Channels, net.Height, net.Width);
        var p = net.ProbabilitiesFromPixels(set.Images);
        int right = 0;
        double logLoss = 0;
        for (int i = 0; i < set.Count; i++)
        {
            var row = p.Data.AsSpan(i * 2, 2);
            if (Rows.ArgMax(row) == set.Labels[i]) right++;
            logLoss -= Math.Log(Math.Max(1e-15, row[set.Labels[i]]));
        }
        StringAssert.Contains(r.Out, $"│ micro accuracy │ {(double)right / set.Count:P2} │".Replace("  ", " "));
        StringAssert.Contains(r.Out, (logLoss / set.Count).ToString("F4", System.Globalization.CultureInfo.InvariantCulture));
    }

    [TestMethod]
    public void AModelMadeFor0To255PixelsIsFedThoseByEvaluateAndPredict()
    {
        // Two files of one function of the image: "unit" reads 0..1 pixels with means m + 2/255, "scaled" reads 0..255
        // pixels with means 255·m + 2 (all above 1.5, as a model from ML.NET's ExtractPixels has them) and deviations 255·s.
        // evaluate and predict must print the same figures for both.
        var net = ModelFile.Load(SharedModel.Model);
        var n = net.Normalization;
        var scaled = new Network(net.Root, net.Channels, net.Height, net.Width, net.ClassNames,
            new Normalization([.. n.Mean.Select(m => m * 255f + 2f)], [.. n.Std.Select(v => v * 255f)]));
        var unit = new Network(net.Root, net.Channels, net.Height, net.Width, net.ClassNames,
            new Normalization([.. n.Mean.Select(m => m + 2f / 255f)], [.. n.Std]));
        using var dir = new TempFolder();
        ModelFile.Save(scaled, dir["scaled.mlconv"]);
        ModelFile.Save(unit, dir["unit.mlconv"]);
        string image = Directory.EnumerateFiles(Path.Combine(SharedModel.Images.Root, "rings")).First(f => !f.EndsWith(".txt", StringComparison.Ordinal));

        var a = CliRunner.Ok("evaluate", "--model", dir["unit.mlconv"], "--data", SharedModel.Images.Root, "--all");
        var b = CliRunner.Ok("evaluate", "--model", dir["scaled.mlconv"], "--data", SharedModel.Images.Root, "--all");
        Assert.AreEqual(Figures(a.Out), Figures(b.Out));
        var pa = CliRunner.Ok("predict", image, "--model", dir["unit.mlconv"]);
        var pb = CliRunner.Ok("predict", image, "--model", dir["scaled.mlconv"]);
        Assert.AreEqual(Figures(pa.Out), Figures(pb.Out));
        StringAssert.Contains(pb.Out, "%");
    }

    /// <summary>The lines of a command's output that hold figures (percentages or decimals), without the model path.</summary>
    private static string Figures(string output) =>
        string.Join("\n", output.Split('\n').Where(l => l.Contains('%') || l.Contains("log-loss", StringComparison.Ordinal)).Select(l => l.Replace("scaled", "unit", StringComparison.Ordinal)));

    [TestMethod]
    public void EvaluateRefusesAFolderWithAClassTheModelDoesNotKnow()
    {
        using var images = new TinyImages(perClass: 1);
        TinyImages.Write(images["zebras/0.png"], TinyImages.Draw("bars", 8, 8, new Random(1)), 8, 8);
        var r = CliRunner.Run("evaluate", "--model", SharedModel.Model, "--data", images.Root);
        Assert.AreEqual(Cli.Failure, r.ExitCode, r.ToString());
        StringAssert.Contains(r.Err, "'zebras' is not among the model's classes (bars, rings)");
        Assert.AreEqual(Cli.Usage, CliRunner.Run("evaluate", "--data", images.Root).ExitCode, "--model is required");
    }

    [TestMethod]
    public void PredictShowsTheTopClassesWithTheNetworksProbabilities()
    {
        string a = SharedModel.Images["bars/00.jpg"], b = SharedModel.Images["rings/01.PNG"];
        var r = CliRunner.Ok("predict", a, b, "--model", SharedModel.Model, "--top", "2");
        var net = ModelFile.Load(SharedModel.Model);
        var p = net.ProbabilitiesFromPixels(ImageFolder.Scan(SharedModel.Images.Root).Select(["bars/00.jpg", "rings/01.PNG"]).Load(net.Channels, net.Height, net.Width).Images);
        for (int i = 0; i < 2; i++)
        {
            int best = Rows.ArgMax(p.Data.AsSpan(i * 2, 2));
            string line = r.Out.Split('\n').Single(l => l.Contains(i == 0 ? a : b));
            StringAssert.Contains(line, $"{net.ClassNames[best]} {p[i * 2 + best]:P1}", r.Out);
        }
        Assert.AreEqual(Cli.Usage, CliRunner.Run("predict", a, "--model", SharedModel.Model, "--top", "0").ExitCode);
        Assert.AreEqual(Cli.Usage, CliRunner.Run("predict", "--model", SharedModel.Model).ExitCode, "an image is required");
        var missing = CliRunner.Run("predict", SharedModel.Images["gone.png"], "--model", SharedModel.Model);
        Assert.AreEqual(Cli.Failure, missing.ExitCode);
        StringAssert.Contains(missing.Err, "gone.png");
    }

    [TestMethod]
    public void SummaryListsTheLayersAndTheTotal()
    {
        var r = CliRunner.Ok("summary", "--model", SharedModel.Model);
        var net = ModelFile.Load(SharedModel.Model);
        StringAssert.Contains(r.Out, "Conv2d(3, 6, kernel_size=5");
        StringAssert.Contains(r.Out, $"Total params: {net.ParameterCount:N0}");
        Assert.AreEqual(Cli.Usage, CliRunner.Run("summary", "--model", SharedModel.Model, "--batch", "-1").ExitCode);
        Assert.AreEqual(Cli.Failure, CliRunner.Run("summary", "--model", SharedModel.Images["bars/00.jpg"]).ExitCode, "not a model file");
    }

    [TestMethod]
    public void ExportVerifyAndImportRoundTrip()
    {
        using var output = new TempFolder();
        string onnx = output["m.onnx"], imported = output["i.mlconv"];
        var export = CliRunner.Ok("export", "--model", SharedModel.Model, "--out", onnx, "--opset", "13");
        StringAssert.Contains(export.Out, "opset 13");
        StringAssert.Contains(export.Out, "ONNX Runtime agrees");

        var verify = CliRunner.Ok("verify", "--model", SharedModel.Model, "--onnx", onnx, "--data", SharedModel.Images.Root, "--count", "5");
        StringAssert.Contains(verify.Out, "CPUExecutionProvider");
        StringAssert.Contains(verify.Out, "5/5");

        CliRunner.Ok("import", "--onnx", onnx, "--out", imported);
        var original = ModelFile.Load(SharedModel.Model);
        var back = ModelFile.Load(imported);
        CollectionAssert.AreEqual(original.ClassNames.ToArray(), back.ClassNames.ToArray());
        var x = ImageFolder.Scan(SharedModel.Images.Root).Load(3, original.Height, original.Width).Images;
        var p = original.ProbabilitiesFromPixels(x);
        var q = back.ProbabilitiesFromPixels(x);
        for (int i = 0; i < p.Length; i++) Assert.AreEqual(p[i], q[i], 1e-5, $"probability {i}: the imported model scores like the original");
        CliRunner.Ok("verify", "--model", imported, "--onnx", onnx);

        Assert.AreEqual(Cli.Usage, CliRunner.Run("export", "--model", SharedModel.Model, "--out", onnx, "--opset", "3").ExitCode);
        var notOnnx = CliRunner.Run("import", "--onnx", SharedModel.Images["bars/00.jpg"], "--out", imported);
        Assert.AreEqual(Cli.Failure, notOnnx.ExitCode, notOnnx.ToString());
        Assert.AreEqual(1, notOnnx.ErrLines.Length, notOnnx.Err);
    }

    [TestMethod]
    public void VerifyFailsWithExitCode1WhenTheOnnxFileIsAnotherNetwork()
    {
        using var output = new TempFolder();
        var other = Architectures.LeNet5(3, 16, 16, 2, seed: 42, classNames: ["bars", "rings"]);
        Export.OnnxExporter.Export(other, output["other.onnx"]);
        var r = CliRunner.Run("verify", "--model", SharedModel.Model, "--onnx", output["other.onnx"], "--count", "4");
        Assert.AreEqual(Cli.Failure, r.ExitCode, r.ToString());
        Assert.AreEqual(1, r.ErrLines.Length, r.Err);
        StringAssert.Contains(r.Err, "ONNX Runtime disagrees with MLConv");
        Assert.AreEqual(Cli.Usage, CliRunner.Run("verify", "--model", SharedModel.Model, "--onnx", output["other.onnx"], "--tolerance", "0").ExitCode);
    }

    [TestMethod]
    public void VisualizeDrawsCurvesConfusionFiltersAndFeatureMapsAsPngs()
    {
        using var output = new TempFolder();
        var r = CliRunner.Ok("visualize", "--model", SharedModel.Model, "--data", SharedModel.Images.Root, "--image", SharedModel.Images["bars/00.jpg"], "--out", output.Path);
        CollectionAssert.AreEqual(File.ReadAllLines(Path.ChangeExtension(SharedModel.Model, ".history.csv")), File.ReadAllLines(output["history.csv"]));
        var confusion = File.ReadAllLines(output["confusion.csv"]);
        Assert.AreEqual("true\\predicted,bars,rings", confusion[0]);
        Assert.AreEqual(3, confusion.Length);
        foreach (string png in new[] { "loss.png", "accuracy.png", "confusion.png", "filters.png", "feature-maps.png" })
        {
            StringAssert.Contains(r.Out, output[png]);
            var picture = ImageDecoder.Read(output[png]);
            Assert.IsTrue(picture.Width > 50 && picture.Height > 50, $"{png} is {picture.Width}x{picture.Height}");
            Assert.IsTrue(picture.Pixels.Distinct().Count() > 2, $"{png} is not blank");
        }
        Assert.AreEqual(Cli.Usage, CliRunner.Run("visualize", "--model", SharedModel.Model).ExitCode, "--out is required");
        Assert.AreEqual(Cli.Failure, CliRunner.Run("visualize", "--model", output["none.mlconv"], "--out", output.Path).ExitCode);
    }

    [TestMethod]
    public void FiltersWriteOnePngPerFilterAndTheStrip()
    {
        using var output = new TempFolder();
        string image = SharedModel.Images["bars/01.PNG"]; // 20x14
        var r = CliRunner.Ok("filters", image, "--out", output.Path);
        StringAssert.Contains(r.Out, "sobel_x");
        var strip = Png.Read(output["filters.png"]);
        Assert.AreEqual((7 * (20 + 4) - 4, 14), (strip.Width, strip.Height));
        var vertical = Png.Read(output["vertical.png"]);
        Assert.AreEqual((20, 14), (vertical.Width, vertical.Height));
        Assert.IsTrue(vertical.Pixels.Max() > 200, "vertical stripes give strong vertical-edge responses");

        var one = CliRunner.Ok("filters", image, "--out", output["one"], "--filter", "laplacian");
        Assert.AreEqual(2, Directory.GetFiles(output["one"], "*.png").Length);
        var bad = CliRunner.Run("filters", image, "--out", output.Path, "--filter", "emboss");
        Assert.AreEqual(Cli.Usage, bad.ExitCode);
        StringAssert.Contains(bad.Err, "vertical, horizontal, sobel_x, sobel_y, blur, laplacian");
    }

    [TestMethod]
    public void PrepareMnistNeedsItsFoldersAndNamesAMissingPackage()
    {
        Assert.AreEqual(Cli.Usage, CliRunner.Run("prepare-mnist", "--out", "x").ExitCode);
        using var output = new TempFolder();
        var r = CliRunner.Run("prepare-mnist", "--package", output["no-package"], "--out", output["mnist"]);
        Assert.AreEqual(Cli.Failure, r.ExitCode, r.ToString());
        StringAssert.Contains(r.Err, "no-package");
    }
}
