using Microsoft.ML;
using Microsoft.ML.Data;
using MLConv.Export;
using MLConv.Tests.Data;
using MLConv.Training.Fitting;
using MLConv.Training.Layers;
using MLConv.Training.Models;
using MLConv.Training.Tensors;

namespace MLConv.Transforms.Tests;

/// <summary>
/// TrainCnn starting from a pretrained network that the test trains itself (so it runs anywhere): a small CNN learns
/// three shape classes (horizontal, vertical, diagonal bars of random colour and position) on 240 images, is saved as
/// .mlconv and exported as ONNX; then TrainCnn fine-tunes from each file on 30 new images and is tested on 150 others.
/// </summary>
[TestClass]
public sealed class TransferLearningTests
{
    private const int C = 3, H = 10, W = 10, Classes = 3;
    private static TempFolder _folder = null!;
    private static Network _pretrained = null!;
    private static string _mlconv = "", _onnx = "";

    public sealed class Row
    {
        public int Label { get; set; }
        [VectorType(C * H * W)] public float[] Features { get; set; } = [];
    }

    public sealed class Prediction
    {
        public int Label { get; set; }
        /// <summary>A key: 1-based (class "0" is key 1).</summary>
        public uint PredictedLabel { get; set; }
    }

    [ClassInitialize]
    public static void Init(TestContext _)
    {
        _folder = new TempFolder();
        var rows = Shapes(240, seed: 1);
        _pretrained = new Network(new Sequential(
            new Conv2d(C, 8, 3, padding: 1), new ReLU(), new MaxPool2d(2),
            new Conv2d(8, 16, 3, padding: 1), new ReLU(), new GlobalAvgPool2d(),
            new Flatten(), new Linear(16, Classes)), C, H, W);
        _pretrained.Root.Reset(new Random(3));
        var (x, y) = ToTensor(rows);
        new Trainer(new TrainerOptions { Epochs = 25, BatchSize = 16, RandomShift = 0, Seed = 4 }).Fit(_pretrained, x, y);
        _mlconv = _folder["base.mlconv"];
        ModelFile.Save(_pretrained, _mlconv);
        _onnx = _folder["base.onnx"];
        OnnxExporter.Export(_pretrained, _onnx);
    }

    [ClassCleanup]
    public static void Cleanup() => _folder?.Dispose();

    private static List<Row> Shapes(int count, int seed)
    {
        var rng = new Random(seed);
        var rows = new List<Row>();
        for (int i = 0; i < count; i++)
        {
            int k = i % Classes;
            var f = new float[C * H * W];
            for (int j = 0; j < f.Length; j++) f[j] = (float)(rng.NextDouble() * 0.2);
            float[] colour = [(float)rng.NextDouble() * 0.7f + 0.3f, (float)rng.NextDouble() * 0.7f + 0.3f, (float)rng.NextDouble() * 0.7f + 0.3f];
            int p = rng.Next(2, 8);
            for (int t = 1; t < 9; t++)
            {
                var (r, c) = k switch { 0 => (p, t), 1 => (t, p), _ => (t, t) };
                for (int ch = 0; ch < C; ch++) f[(ch * H + r) * W + c] = colour[ch];
            }
            rows.Add(new Row { Label = k, Features = f });
        }
        return rows;
    }

    private static (Tensor, int[]) ToTensor(List<Row> rows)
    {
        var x = new Tensor(rows.Count, C, H, W);
        for (int i = 0; i < rows.Count; i++) rows[i].Features.CopyTo(x.Data, i * C * H * W);
        return (x, [.. rows.Select(r => r.Label)]);
    }

    private static (CnnTransformer Model, double Accuracy) Fit(CnnTrainerOptions options)
    {
        var ml = new MLContext(seed: 1);
        var model = ml.Transforms.TrainCnn(options).Fit(ml.Data.LoadFromEnumerable(Shapes(30, seed: 7)));
        var predictions = ml.Data.CreateEnumerable<Prediction>(model.Transform(ml.Data.LoadFromEnumerable(Shapes(150, seed: 8))), reuseRowObject: false).ToList();
        return (model, predictions.Count(p => p.PredictedLabel - 1 == p.Label) / (double)predictions.Count);
    }

    private static CnnTrainerOptions Options(string pretrained, bool fineTune = false) => new()
    {
        ImageHeight = H, ImageWidth = W, Channels = C, PretrainedModel = pretrained, FineTunePretrained = fineTune,
        Normalization = PixelNormalization.None, HeadDropout = 0,
        Trainer = { Epochs = 40, BatchSize = 8, LearningRate = 1e-2, Schedule = LearningRateSchedule.Constant, RandomShift = 0, Seed = 5 },
    };

    [TestMethod]
    [DataRow("mlconv")]
    [DataRow("onnx")]
    public void FrozenBaseKeepsItsWeightsAndTheNewHeadLearns(string format)
    {
        var (model, accuracy) = Fit(Options(format == "mlconv" ? _mlconv : _onnx));
        using var _ = model;
        var frozen = model.Network.Root[0] as Frozen;
        Assert.IsNotNull(frozen, $"the base is frozen: {model.Network.Root[0]}");
        var before = _pretrained.Root.AllParameters().Take(4).SelectMany(p => p.Value.Span.ToArray()).ToArray();
        var after = frozen.AllParameters().SelectMany(p => p.Value.Span.ToArray()).ToArray();
        CollectionAssert.AreEqual(before, after, "the frozen convolutions are unchanged");
        Assert.AreEqual(Classes, model.Network.NumClasses);
        Assert.IsGreaterThanOrEqualTo(0.85, accuracy, $"test accuracy from 30 images on the pretrained features: {accuracy:P1}");
    }

    [TestMethod]
    public void FineTuningTrainsTheBaseToo()
    {
        var (model, accuracy) = Fit(Options(_mlconv, fineTune: true));
        using var _ = model;
        Assert.IsNotInstanceOfType<Frozen>(model.Network.Root[0]);
        var before = _pretrained.Root.AllParameters().First().Value.Span.ToArray();
        var after = model.Network.Root.AllParameters().First().Value.Span.ToArray();
        CollectionAssert.AreNotEqual(before, after, "fine-tuning moves the first convolution");
        Assert.IsGreaterThanOrEqualTo(0.85, accuracy, $"test accuracy: {accuracy:P1}");
    }

    /// <summary>
    /// TrainLastLayers = 1 and FreezeBefore = "3" (the second convolution's index): the first convolution stays, the second
    /// trains — on the frozen part's outputs computed once, or on shifted images through the frozen part every batch.
    /// </summary>
    [TestMethod]
    [DataRow("mlconv", "last", 0)]
    [DataRow("onnx", "before", 0)]
    [DataRow("mlconv", "last", 1)]
    public void PartialFineTuningFreezesWhatComesBefore(string format, string how, int shift)
    {
        var options = Options(format == "mlconv" ? _mlconv : _onnx);
        if (how == "last") options.TrainLastLayers = 1; else options.FreezeBefore = "3";
        options.Trainer.RandomShift = shift;
        var (model, accuracy) = Fit(options);
        using var _ = model;
        Assert.IsInstanceOfType<Frozen>(model.Network.Root[0]);
        var convs = model.Network.Root.Descendants().OfType<Conv2d>().ToList();
        var pretrainedConvs = _pretrained.Root.Descendants().OfType<Conv2d>().ToList();
        CollectionAssert.AreEqual(pretrainedConvs[0].Weight.Value.Span.ToArray(), convs[0].Weight.Value.Span.ToArray(), "the frozen convolution is unchanged");
        CollectionAssert.AreNotEqual(pretrainedConvs[1].Weight.Value.Span.ToArray(), convs[1].Weight.Value.Span.ToArray(), "the last convolution trains");
        Assert.IsGreaterThanOrEqualTo(0.85, accuracy, $"test accuracy: {accuracy:P1}");
    }

    [TestMethod]
    public void FeatureExtractorCutsBeforeTheClassifier()
    {
        var features = TransferLearning.FeatureExtractor(_pretrained.Root);
        Assert.AreEqual(6, features.Count);
        Assert.IsInstanceOfType<GlobalAvgPool2d>(features[5]);
        var g = new Graph("x", [new GraphNode("conv", new Conv2d(3, 4, 3), ["x"], "a"), new GraphNode("pool", new GlobalAvgPool2d(), ["a"], "p"),
            new GraphNode("flat", new Flatten(), ["p"], "f"), new GraphNode("fc", new Linear(4, 2), ["f"], "y")], "y");
        var cut = (Graph)TransferLearning.FeatureExtractor(new Sequential(g))[0];
        Assert.AreEqual("p", cut.Output);
        Assert.AreEqual("a", ((Graph)TransferLearning.FeatureExtractor(new Sequential(g), cutAt: "a")[0]).Output);
        StringAssert.Contains(Assert.Throws<ArgumentException>(() => TransferLearning.FeatureExtractor(new Sequential(g), cutAt: "nope")).Message, "no value 'nope'");
    }

    [TestMethod]
    public void BadPretrainedOptionsAreNamed()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(Shapes(6, seed: 2));
        Assert.Throws<FileNotFoundException>(() => ml.Transforms.TrainCnn(Options(_folder["missing.onnx"])).Fit(data));
        var wrongChannels = Options(_mlconv);
        wrongChannels.Channels = 1;
        wrongChannels.ImageHeight = 30;
        Assert.Throws<ArgumentException>(() => ml.Transforms.TrainCnn(wrongChannels).Fit(ml.Data.LoadFromEnumerable(
            Enumerable.Range(0, 6).Select(i => new GrayRow { Label = i % 2, Features = new float[300] }))));
    }

    public sealed class GrayRow
    {
        public int Label { get; set; }
        [VectorType(300)] public float[] Features { get; set; } = [];
    }
}
