// Transfer learning on a folder of images (one subfolder per class, PNG/JPEG/BMP): LoadImages -> ResizeImages(224) ->
// ExtractPixels -> TrainCnn(PretrainedModel = "ResNet18"), evaluated on a held-out split, saved, exported to ONNX and
// verified under ONNX Runtime. With --compare the same split also goes through TrainCnn from scratch (SimpleCNN at 32 px)
// and ML.NET's own route (DnnFeaturizeImage(ResNet18) + LbfgsMaximumEntropy), and a table of accuracy and time is printed.
// Usage: dotnet run --project samples/TransferLearning -c Release -- [FOLDER | --shapes] [--test-fraction 0.2] [--compare]
//   --shapes writes a synthetic set first: 3 classes of RGB pictures that differ in shape (bar, cross, ring), not colour.
//   --digits [--per-class 30,100] [--mnist data/mnist] compares the three routes on MNIST subsets instead (Digits.cs).
using System.Diagnostics;
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;
using MLConv.Training.Data;
using MLConv.Training.Fitting;
using MLConv.Transforms;

CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
if (args.Contains("--digits"))
    return Digits.Run(Arg("--mnist") ?? Path.Combine("data", "mnist"),
        [.. (Arg("--per-class") ?? "30,100").Split(',').Select(v => int.Parse(v, CultureInfo.InvariantCulture))], seed: 1);
string outDir = Path.GetFullPath(Path.Combine("artifacts", "transfer"));
Directory.CreateDirectory(outDir);
string folder = args.FirstOrDefault(a => !a.StartsWith("--", StringComparison.Ordinal)) ?? "";
if (args.Contains("--shapes") || folder.Length == 0) folder = Shapes.Write(Path.Combine(outDir, "shapes"), perClass: 80, seed: 1);
if (!Directory.Exists(folder)) { Console.Error.WriteLine($"No image folder at '{folder}'."); return 2; }
double testFraction = double.Parse(Arg("--test-fraction") ?? "0.25", CultureInfo.InvariantCulture);
bool compare = args.Contains("--compare");

string[] extensions = [".png", ".jpg", ".jpeg", ".bmp"];
var rows = Directory.GetDirectories(folder).OrderBy(d => d, StringComparer.Ordinal)
    .SelectMany(d => Directory.GetFiles(d).Where(f => extensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
        .OrderBy(f => f, StringComparer.Ordinal).Select(f => new ImageRow { ImagePath = f, Label = Path.GetFileName(d) }))
    .ToList();
var rng = new Random(7);
var shuffled = rows.OrderBy(_ => rng.Next()).ToList();
int nTest = (int)Math.Round(rows.Count * testFraction);
var testRows = shuffled.Take(nTest).ToList();
var trainRows = shuffled.Skip(nTest).ToList();
Console.WriteLine($"{folder}: {rows.Count} images, {rows.Select(r => r.Label).Distinct().Count()} classes; {trainRows.Count} train / {testRows.Count} test");

var ml = new MLContext(seed: 0);
ml.Log += (_, e) => { if (e.Kind == Microsoft.ML.Runtime.ChannelMessageKind.Info && e.Source == "TrainCnn") Console.WriteLine($"  [log] {e.Message}"); };
var train = ml.Data.LoadFromEnumerable(trainRows);
var test = ml.Data.LoadFromEnumerable(testRows);

IEstimator<ITransformer> Pixels(int size) => ml.Transforms.Conversion.MapValueToKey("Label")
    .Append(ml.Transforms.LoadImages("Image", null, nameof(ImageRow.ImagePath)))
    .Append(ml.Transforms.ResizeImages("Image", size, size, "Image"))
    .Append(ml.Transforms.ExtractPixels("Features", "Image"));

var results = new List<(string Route, double Accuracy, double Seconds)>();
(ITransformer Model, double Accuracy) Run(string route, IEstimator<ITransformer> pipeline)
{
    var clock = Stopwatch.StartNew();
    var model = pipeline.Fit(train);
    var metrics = ml.MulticlassClassification.Evaluate(model.Transform(test));
    clock.Stop();
    Console.WriteLine($"{route}: test accuracy {metrics.MacroAccuracy:P1} (micro {metrics.MicroAccuracy:P1}), log-loss {metrics.LogLoss:F3}, {clock.Elapsed.TotalSeconds:F1} s");
    results.Add((route, metrics.MicroAccuracy, clock.Elapsed.TotalSeconds));
    return (model, metrics.MicroAccuracy);
}

var fineTune = new CnnTrainerOptions
{
    PretrainedModel = "ResNet18", ImageHeight = 224, ImageWidth = 224, Channels = 3, ValidationFraction = 0.15,
    Trainer = { Epochs = 60, BatchSize = 32, LearningRate = 3e-3, WeightDecay = 1e-3, EarlyStoppingPatience = 10, RandomShift = 0 },
};
var (tuned, _) = Run("TrainCnn, pretrained ResNet-18 (frozen, new head)", Pixels(224).Append(ml.Transforms.TrainCnn(fineTune)));

var cnn = ((IEnumerable<ITransformer>)tuned).OfType<CnnTransformer>().Single();
string zip = Path.Combine(outDir, "model.zip"), onnx = Path.Combine(outDir, "model.onnx");
ml.Model.Save(tuned, train.Schema, zip);
cnn.ExportOnnx(onnx);
var report = cnn.VerifyOnnx(onnx, Pixels(224).Fit(test).Transform(test), maxRows: 16);
Console.WriteLine(report);
Console.WriteLine($"Saved {zip} and {onnx}");

if (compare)
{
    Run("TrainCnn from scratch (SimpleCNN, 32 px)", Pixels(32).Append(ml.Transforms.TrainCnn(new CnnTrainerOptions
    {
        Architecture = "SimpleCNN", ImageHeight = 32, ImageWidth = 32, Channels = 3, ValidationFraction = 0.15,
        Trainer = { Epochs = 40, BatchSize = 32, EarlyStoppingPatience = 8, HorizontalFlip = true },
    })));
    Run("ML.NET DnnFeaturizeImage(ResNet18) + LbfgsMaximumEntropy", Pixels(224)
        .Append(ml.Transforms.DnnFeaturizeImage("DnnFeatures", m => m.ModelSelector.ResNet18(ml, m.OutputColumn, m.InputColumn), "Features"))
        .Append(ml.MulticlassClassification.Trainers.LbfgsMaximumEntropy("Label", "DnnFeatures")));
    Console.WriteLine();
    Console.WriteLine("| route | test accuracy | wall time (fit + evaluate) |");
    Console.WriteLine("|---|---:|---:|");
    foreach (var (route, acc, s) in results) Console.WriteLine($"| {route} | {acc:P1} | {s:F1} s |");
}
return report.Passed(1e-4) ? 0 : 1;

string? Arg(string name) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault();

internal sealed class ImageRow
{
    public string ImagePath { get; set; } = "";
    public string Label { get; set; } = "";
}

/// <summary>Synthetic RGB pictures whose classes differ in shape, not colour: a thick bar, a cross, a ring, on noisy random backgrounds.</summary>
internal static class Shapes
{
    public static string Write(string root, int perClass, int seed)
    {
        const int S = 64;
        string[] names = ["bar", "cross", "ring"];
        if (names.All(n => Directory.Exists(Path.Combine(root, n)) && Directory.GetFiles(Path.Combine(root, n)).Length == perClass)) return root;
        var rng = new Random(seed);
        var px = new byte[S * S * 3];
        for (int k = 0; k < names.Length; k++)
        {
            string dir = Path.Combine(root, names[k]);
            Directory.CreateDirectory(dir);
            for (int i = 0; i < perClass; i++)
            {
                byte[] bg = [(byte)rng.Next(256), (byte)rng.Next(256), (byte)rng.Next(256)], fg = [(byte)rng.Next(256), (byte)rng.Next(256), (byte)rng.Next(256)];
                double cx = rng.Next(20, 44), cy = rng.Next(20, 44), r = rng.Next(10, 18), angle = rng.NextDouble() * Math.PI;
                for (int y = 0; y < S; y++)
                for (int x = 0; x < S; x++)
                {
                    double dx = x - cx, dy = y - cy;
                    double u = dx * Math.Cos(angle) + dy * Math.Sin(angle), v = -dx * Math.Sin(angle) + dy * Math.Cos(angle);
                    bool on = k switch
                    {
                        0 => Math.Abs(u) < r && Math.Abs(v) < 3,
                        1 => (Math.Abs(u) < r && Math.Abs(v) < 2.5) || (Math.Abs(v) < r && Math.Abs(u) < 2.5),
                        _ => Math.Abs(Math.Sqrt(dx * dx + dy * dy) - r * 0.8) < 2.5,
                    };
                    for (int c = 0; c < 3; c++)
                        px[(y * S + x) * 3 + c] = (byte)Math.Clamp((on ? fg[c] : bg[c]) + rng.Next(-20, 21), 0, 255);
                }
                Png.Write(Path.Combine(dir, $"{i:D3}.png"), px, S, S, 3);
            }
        }
        return root;
    }
}
