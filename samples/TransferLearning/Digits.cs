using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Transforms.Image;
using MLConv.Transforms;

/// <summary>
/// The real-digits comparison (--digits): MNIST with 30 and 100 training images per class, drawn seeded from the training
/// split of data/mnist (split.txt), tested on its 2,000 held-out digits. Three routes on each set: TrainCnn from scratch
/// (LeNet-5 at 28 px, the main job's recipe for 50 epochs of batch 32: the sets are small), TrainCnn from the pretrained ResNet-18 (digits upscaled to
/// <see cref="PretrainedSize"/> px as RGB; its last <see cref="TrainedLayers"/> layers with parameters — the last basic
/// block — fine-tuned on the frozen rest's activations, computed once, with a new head), and ML.NET's
/// DnnFeaturizeImage(ResNet18) + LbfgsMaximumEntropy at 224 px.
/// </summary>
internal static class Digits
{
    public const int PretrainedSize = 64, TrainedLayers = 4;

    public static int Run(string mnist, int[] perClass, int seed)
    {
        string splitFile = Path.Combine(mnist, "split.txt");
        if (!File.Exists(splitFile)) { Console.Error.WriteLine($"No MNIST split at '{splitFile}' (run scripts/fetch-mnist.sh)."); return 2; }
        var lines = File.ReadLines(splitFile).Where(l => !l.StartsWith('#') && l.Length > 0).Select(l => l.Split(' ', 2)).ToList();
        ImageRow Row(string relative) => new() { ImagePath = Path.Combine(mnist, relative), Label = relative.Split('/')[0] };
        var test = lines.Where(l => l[0] == "test").Select(l => Row(l[1])).ToList();
        var trainByClass = lines.Where(l => l[0] == "train").Select(l => Row(l[1])).GroupBy(r => r.Label).OrderBy(g => g.Key, StringComparer.Ordinal).ToList();

        var ml = new MLContext(seed: 0);
        ml.Log += (_, e) => { if (e.Kind == Microsoft.ML.Runtime.ChannelMessageKind.Info && e.Source == "TrainCnn" && !e.Message.Contains("epoch", StringComparison.Ordinal)) Console.WriteLine($"    [log] {e.Message}"); };
        var testView = ml.Data.LoadFromEnumerable(test);
        var table = new List<string>();
        foreach (int n in perClass)
        {
            var rng = new Random(seed);
            var train = trainByClass.SelectMany(g => g.OrderBy(_ => rng.Next()).Take(n)).ToList();
            var trainView = ml.Data.LoadFromEnumerable(train);
            Console.WriteLine($"MNIST, {n} per class: {train.Count} training digits, {test.Count} test digits");

            IEstimator<ITransformer> Pixels(int size, ImagePixelExtractingEstimator.ColorBits colors) => ml.Transforms.Conversion.MapValueToKey("Label")
                .Append(ml.Transforms.LoadImages("Image", null, nameof(ImageRow.ImagePath)))
                .Append(ml.Transforms.ResizeImages("Image", size, size, "Image"))
                .Append(ml.Transforms.ExtractPixels("Features", "Image", colorsToExtract: colors));

            void Route(string name, IEstimator<ITransformer> pipeline)
            {
                var clock = Stopwatch.StartNew();
                var model = pipeline.Fit(trainView);
                var metrics = ml.MulticlassClassification.Evaluate(model.Transform(testView));
                clock.Stop();
                Console.WriteLine($"  {name}: test accuracy {metrics.MicroAccuracy:P1}, {clock.Elapsed.TotalSeconds:F1} s");
                table.Add($"| MNIST, {n} per class | {name} | {metrics.MicroAccuracy:P1} | {clock.Elapsed.TotalSeconds:F1} s |");
                (model as IDisposable)?.Dispose();
            }

            Route("TrainCnn from scratch (LeNet-5, 28 px)", Pixels(28, ImagePixelExtractingEstimator.ColorBits.Red)
                .Append(ml.Transforms.TrainCnn(new CnnTrainerOptions
                {
                    Architecture = "LeNet5", ImageHeight = 28, ImageWidth = 28, Channels = 1, Trainer = { Epochs = 50, BatchSize = 32, Seed = seed },
                })));
            Route($"TrainCnn, pretrained ResNet-18 ({PretrainedSize} px, last block fine-tuned)", Pixels(PretrainedSize, ImagePixelExtractingEstimator.ColorBits.Rgb)
                .Append(ml.Transforms.TrainCnn(new CnnTrainerOptions
                {
                    PretrainedModel = "ResNet18", ImageHeight = PretrainedSize, ImageWidth = PretrainedSize, Channels = 3, TrainLastLayers = TrainedLayers,
                    // About 10,000 examples seen in all: 30 epochs of 300 digits, 10 of 1,000.
                    Trainer = { Epochs = Math.Clamp(10_000 / train.Count, 10, 30), BatchSize = 32, LearningRate = 1e-3, WeightDecay = 1e-4, RandomShift = 0, Seed = seed },
                })));
            Route("ML.NET DnnFeaturizeImage(ResNet18) + LbfgsMaximumEntropy", Pixels(224, ImagePixelExtractingEstimator.ColorBits.Rgb)
                .Append(ml.Transforms.DnnFeaturizeImage("DnnFeatures", m => m.ModelSelector.ResNet18(ml, m.OutputColumn, m.InputColumn), "Features"))
                .Append(ml.MulticlassClassification.Trainers.LbfgsMaximumEntropy("Label", "DnnFeatures")));
        }
        Console.WriteLine();
        Console.WriteLine("| set | route | test accuracy | wall time (fit + evaluate) |");
        Console.WriteLine("|---|---|---:|---:|");
        foreach (var line in table) Console.WriteLine(line);
        return 0;
    }
}
