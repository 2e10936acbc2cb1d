using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;
using MLConv.Training.Data;
using MLConv.Transforms;

namespace MLConv.Benchmarks;

/// <summary>
/// Scoring the 2,000 held-out MNIST digits (data/mnist, scripts/fetch-mnist.sh) with a LeNet-5 fitted by TrainCnn:
/// ML.NET's way — the fitted transformer's <c>Transform</c> (ApplyOnnxModel over MLConv's export, one ONNX Runtime run
/// per row) + <c>MulticlassClassification.Evaluate</c> — against MLConv's batched C# path (<c>PredictWithNetwork</c>
/// + arg-max accuracy). Both start from the same cached pixel column, so image decoding is not timed.
/// </summary>
public static class Scoring
{
    public static void Run(Report report, string repoRoot)
    {
        Console.WriteLine("ML.NET scoring of the 2,000 MNIST test digits");
        string dataDir = Path.Combine(repoRoot, "data", "mnist");
        if (!File.Exists(Path.Combine(dataDir, MnistSplit.FileName)))
        {
            report.Check($"ML.NET scoring: no MNIST in {dataDir} (bash scripts/fetch-mnist.sh); skipped");
            return;
        }
        var split = MnistSplit.Load(dataDir);
        var ml = new MLContext(seed: 0);
        ImageRow Row(string rel) => new() { ImagePath = Path.Combine(dataDir, rel), Label = rel.Split('/')[0] };
        var featurize = ml.Transforms.Conversion.MapValueToKey("Label")
            .Append(ml.Transforms.LoadImages("Image", imageFolder: null, inputColumnName: "ImagePath"))
            .Append(ml.Transforms.ResizeImages("Image", 28, 28, "Image"))
            .Append(ml.Transforms.ExtractPixels("Features", "Image", colorsToExtract: ImagePixelExtractingEstimator.ColorBits.Red));
        var rawTrain = ml.Data.LoadFromEnumerable(split.Train.Take(2000).Select(Row));
        var rawTest = ml.Data.LoadFromEnumerable(split.Test.Select(Row));
        var featurizer = featurize.Fit(rawTrain);
        var train = ml.Data.Cache(featurizer.Transform(rawTrain), "Label", "Features");
        var test = ml.Data.Cache(featurizer.Transform(rawTest), "Label", "Features");
        var options = new CnnTrainerOptions { Architecture = "LeNet5", ImageHeight = 28, ImageWidth = 28, Channels = 1, Trainer = { Epochs = 1 } };
        var cnn = (CnnTransformer)ml.Transforms.TrainCnn(options).Fit(train);
        int n = split.Test.Count;

        double mlnetAccuracy = 0;
        float[][] ours = [];
        void MlNet() => mlnetAccuracy = ml.MulticlassClassification.Evaluate(cnn.Transform(test)).MicroAccuracy;
        void Batched() => ours = cnn.PredictWithNetwork(test);
        MlNet(); Batched();
        var scores = cnn.Transform(test).GetColumn<float[]>("Score").ToArray();
        double maxDiff = 0;
        int agree = 0;
        for (int i = 0; i < n; i++)
        {
            if (Array.IndexOf(scores[i], scores[i].Max()) == Array.IndexOf(ours[i], ours[i].Max())) agree++;
            for (int k = 0; k < scores[i].Length; k++) maxDiff = Math.Max(maxDiff, Math.Abs(scores[i][k] - ours[i][k]));
        }
        report.Check($"ML.NET scoring of {n} MNIST digits (LeNet-5, 1 epoch): accuracy by Evaluate {mlnetAccuracy:P2}; PredictWithNetwork vs the Score " +
            $"column: max |Δp| {maxDiff:E1}, arg-max agreement {agree}/{n}");
        // Where the batched path's time goes: the network alone on the same pixels (already in a tensor) vs reading them.
        var pixels = new Training.Tensors.Tensor(n, 1, 28, 28);
        int row = 0;
        foreach (var v in test.GetColumn<float[]>("Features")) { v.CopyTo(pixels.Data, row * 784); row++; }
        var forward = Timing.Single(() => cnn.Network.ProbabilitiesFromPixels(pixels), samples: 5);
        var reading = Timing.Single(() => { int r = 0; foreach (var v in test.GetColumn<float[]>("Features")) r += v.Length; }, samples: 5);
        report.Check($"ML.NET scoring, where PredictWithNetwork's time goes: ProbabilitiesFromPixels on the {n} images in one tensor " +
            $"{forward.Median * 1000:F1} ms, reading the Features column once {reading.Median * 1000:F1} ms (medians of 5)");
        var x256 = new Training.Tensors.Tensor(256, 1, 28, 28);
        pixels.Data.AsSpan(0, x256.Length).CopyTo(x256.Span);
        var plain = Timing.Single(() => cnn.Network.Forward(x256, false), samples: 5);
        Stats planned;
        using (cnn.Network.PrepareForInference()) planned = Timing.Single(() => cnn.Network.Forward(x256, false), samples: 5);
        var trainMode = Timing.Single(() => cnn.Network.Forward(x256, true), samples: 5);
        report.Check($"LeNet-5 forward of 256 images: inference {plain.Median * 1000:F1} ms, planned {planned.Median * 1000:F1} ms, training mode {trainMode.Median * 1000:F1} ms");
        var (ms, ts) = Timing.Compare(Batched, MlNet);
        report.Add(new Row("Scoring", $"LeNet-5 on {n} MNIST digits: PredictWithNetwork vs Transform+Evaluate", ms, ts, "images/s", n, "ML.NET"));
    }

    private sealed class ImageRow
    {
        public string ImagePath { get; set; } = "";
        public string Label { get; set; } = "";
    }
}
