// The main job: MNIST digits from an image folder -> LoadImages -> ResizeImages -> ExtractPixels -> TrainCnn(LeNet-5),
// evaluate on the 2,000 held-out digits, save the ML.NET model, export ONNX, verify it under ONNX Runtime, and run
// the ONNX file through ML.NET's ApplyOnnxModel. Usage: dotnet run --project samples/MnistPipeline -c Release [-- --epochs N]
using System.Diagnostics;
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;
using MLConv.Plots;
using MLConv.Training.Data;
using MLConv.Training.Fitting;
using MLConv.Transforms;

CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
string root = FindRepoRoot();
string dataDir = Path.Combine(root, "data", "mnist");
string outDir = Path.Combine(root, "artifacts", "mnist");
int epochs = ArgInt(args, "--epochs", TrainerOptions.DefaultEpochs);
if (!File.Exists(Path.Combine(dataDir, MnistSplit.FileName)))
{
    Console.Error.WriteLine($"No MNIST data in {dataDir}: run `bash scripts/fetch-mnist.sh` (scripts/main-job.sh does it for you).");
    return 2;
}
Directory.CreateDirectory(outDir);
var clock = Stopwatch.StartNew();

var split = MnistSplit.Load(dataDir);
ImageRow Row(string rel) => new() { ImagePath = Path.Combine(dataDir, rel), Label = rel.Split('/')[0] };
var ml = new MLContext(seed: 0);
ml.Log += (_, e) => { if (e.Kind == Microsoft.ML.Runtime.ChannelMessageKind.Info && e.Source == "TrainCnn") Console.WriteLine($"  [ML.NET log] {e.Message}"); };
var train = ml.Data.LoadFromEnumerable(split.Train.Select(Row));
var test = ml.Data.LoadFromEnumerable(split.Test.Select(Row));
Console.WriteLine($"MNIST: {split.Train.Count} training / {split.Test.Count} test images from {dataDir}");

var pixels = ml.Transforms.Conversion.MapValueToKey("Label")
    .Append(ml.Transforms.LoadImages("Image", imageFolder: null, inputColumnName: "ImagePath"))
    .Append(ml.Transforms.ResizeImages("Image", 28, 28, "Image"))
    .Append(ml.Transforms.ExtractPixels("Features", "Image", colorsToExtract: ImagePixelExtractingEstimator.ColorBits.Red));
// The held-out digits are scored after every epoch for the learning curves only: with no early stopping they do not
// steer training (the weights are those of the last epoch either way).
var options = new CnnTrainerOptions
{
    Architecture = "LeNet5", Trainer = { Epochs = epochs },   // image size and channels: read from the Features column
    ValidationData = pixels.Fit(train).Transform(test),
    Progress = new Progress(p => { if (p.Kind == ProgressKind.Batch) Console.Write($"\r  {p}   "); else Console.WriteLine($"\r  {p}"); }),
};
var pipeline = pixels.Append(ml.Transforms.TrainCnn(options));

Console.WriteLine($"Training LeNet-5 for {epochs} epochs (batch {options.Trainer.BatchSize}, {options.Trainer.Optimizer} lr {options.Trainer.LearningRate}, {options.Trainer.Schedule} schedule) ...");
var trainClock = Stopwatch.StartNew();
var model = pipeline.Fit(train);
Console.WriteLine($"Trained in {trainClock.Elapsed.TotalSeconds:F1} s.");
var cnn = ((IEnumerable<ITransformer>)model).OfType<CnnTransformer>().Single();
Console.WriteLine(cnn.Summary());

var scored = model.Transform(test);
var metrics = ml.MulticlassClassification.Evaluate(scored);
Console.WriteLine($"Test (2,000 held-out digits): micro accuracy {metrics.MicroAccuracy:P2}, macro accuracy {metrics.MacroAccuracy:P2}, log-loss {metrics.LogLoss:F4}");
Console.WriteLine(metrics.ConfusionMatrix.GetFormattedConfusionTable());

// Pictures: history as CSV/JSON, loss and accuracy curves, the confusion matrix, the first convolution's filters, one digit's feature maps.
var history = cnn.TrainingResult.History;
TrainingHistoryFile.WriteCsv(history, Path.Combine(outDir, "history.csv"));
TrainingHistoryFile.WriteJson(history, Path.Combine(outDir, "history.json"));
TrainingCurves.WriteLoss(history, Path.Combine(outDir, "loss.png"), validationName: "held-out (2,000 digits)");
TrainingCurves.WriteAccuracy(history, Path.Combine(outDir, "accuracy.png"), validationName: "held-out (2,000 digits)");
ConfusionMatrixChart.Write(metrics.ConfusionMatrix.Counts, cnn.ClassNames, Path.Combine(outDir, "confusion.png"),
    title: $"LeNet-5 on the 2,000 held-out digits ({metrics.MicroAccuracy:P2})");
FilterGrid.Write(cnn.Network, Path.Combine(outDir, "filters.png"));
var firstDigit = model.Transform(test).GetColumn<float[]>("Features").First();
FeatureMaps.Write(cnn.Network, MLConv.Training.Tensors.Tensor.FromArray(firstDigit, 1, 1, 28, 28), Path.Combine(outDir, "feature-maps.png"));
Console.WriteLine($"Wrote history.csv/json, loss.png, accuracy.png, confusion.png, filters.png and feature-maps.png to {outDir}");

string zip = Path.Combine(outDir, "model.zip");
MLConv.Training.Data.AtomicFile.Write(zip, stream => ml.Model.Save(model, train.Schema, stream));
var reloaded = new MLContext().Model.Load(zip, out _);
var reloadedMetrics = ml.MulticlassClassification.Evaluate(reloaded.Transform(test));
Console.WriteLine($"Saved {zip}; reloaded model: micro accuracy {reloadedMetrics.MicroAccuracy:P2} (same: {reloadedMetrics.MicroAccuracy == metrics.MicroAccuracy})");
MLConv.Training.Models.ModelFile.Save(cnn.Network, Path.Combine(outDir, "lenet5.mlconv"));

string onnx = Path.Combine(outDir, "lenet5.onnx");
var export = cnn.ExportOnnx(onnx);
Console.WriteLine($"Exported {export.Path}: opset {export.Opset}, IR {export.IrVersion}, {export.Nodes} nodes, {export.Bytes:N0} bytes");
var testFeatures = model.Transform(test);
var report = cnn.VerifyOnnx(onnx, testFeatures, maxRows: 500);
Console.WriteLine(report);
bool ortOk = report.Passed(1e-4);

// The exported file through ML.NET's ApplyOnnxModel: input [N, 1, 28, 28] raw pixels, normalisation inside.
var apply = ml.Transforms.CopyColumns("input", "Features")
    .Append(ml.Transforms.ApplyOnnxModel(["probabilities"], ["input"], onnx, new Dictionary<string, int[]> { ["input"] = [1, 1, 28, 28] }, gpuDeviceId: null, fallbackToCpu: false));
var viaOnnx = apply.Fit(testFeatures).Transform(testFeatures).GetColumn<float[]>("probabilities").ToArray();
var own = cnn.PredictWithNetwork(testFeatures);
var labels = scored.GetColumn<uint>("Label").ToArray();
double maxDiff = 0;
int agree = 0, correct = 0;
for (int i = 0; i < own.Length; i++)
{
    for (int k = 0; k < own[i].Length; k++) maxDiff = Math.Max(maxDiff, Math.Abs(own[i][k] - viaOnnx[i][k]));
    int a = Array.IndexOf(own[i], own[i].Max()), b = Array.IndexOf(viaOnnx[i], viaOnnx[i].Max());
    if (a == b) agree++;
    if (b + 1 == labels[i]) correct++;
}
Console.WriteLine($"ApplyOnnxModel on {own.Length} test images: max |p_onnx - p_mlconv| = {maxDiff:E2}, argmax agreement {agree}/{own.Length}, accuracy {(double)correct / own.Length:P2}");
bool applyOk = maxDiff <= 1e-4 && agree == own.Length;

Console.WriteLine();
Console.WriteLine($"RESULT: test accuracy {metrics.MicroAccuracy:P2} ({(metrics.MicroAccuracy >= 0.98 ? "meets" : "BELOW")} the 98% bar); ONNX Runtime verification {(ortOk ? "passed" : "FAILED")}; ApplyOnnxModel parity {(applyOk ? "passed" : "FAILED")}; total {clock.Elapsed.TotalSeconds:F0} s");
return ortOk && applyOk && metrics.MicroAccuracy >= 0.98 ? 0 : 1;

static string FindRepoRoot()
{
    for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        if (File.Exists(Path.Combine(d.FullName, "MLConv.sln"))) return d.FullName;
    return Directory.GetCurrentDirectory();
}

static int ArgInt(string[] args, string name, int fallback)
{
    int i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
}

internal sealed class ImageRow
{
    public string ImagePath { get; set; } = "";
    public string Label { get; set; } = "";
}

internal sealed class Progress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
{
    public void Report(TrainingProgress value) => report(value);
}
