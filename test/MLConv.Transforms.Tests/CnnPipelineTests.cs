using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;
using MLConv.Tests.Data;
using MLConv.Training.Data;
using MLConv.Training.Fitting;

namespace MLConv.Transforms.Tests;

/// <summary>
/// The ML.NET face end to end on a small image folder written by the test: three classes of 16x12 grayscale
/// images (a horizontal bar, a vertical bar, a diagonal) at random positions with noise.
/// </summary>
[TestClass]
public sealed class CnnPipelineTests
{
    private const int H = 16, W = 12;
    private static TempFolder _folder = null!;
    private static List<ImageRow> _rows = null!;
    private static MLContext _ml = null!;
    private static ITransformer _model = null!;
    private static IDataView _data = null!;
    private static readonly List<string> Log = [];

    public sealed class ImageRow
    {
        public string ImagePath { get; set; } = "";
        public string Label { get; set; } = "";
    }

    public sealed class Prediction
    {
        public float[] Score { get; set; } = [];
        public uint PredictedLabel { get; set; }
    }

    [ClassInitialize]
    public static void Init(TestContext _)
    {
        _folder = new TempFolder();
        _rows = WriteImages(_folder.Path, 36, seed: 1);
        _ml = new MLContext(seed: 1);
        _ml.Log += (_, e) => { if (e.Message.Contains("TrainCnn: epoch", StringComparison.Ordinal)) lock (Log) Log.Add(e.Message); };
        _data = _ml.Data.LoadFromEnumerable(_rows);
        _model = Pipeline(_ml, new CnnTrainerOptions { ImageHeight = H, ImageWidth = W, Trainer = { Epochs = 12, BatchSize = 8, LearningRate = 3e-3, Seed = 2, Schedule = LearningRateSchedule.Constant, RandomShift = 0 } }).Fit(_data);
    }

    [ClassCleanup]
    public static void Cleanup() => _folder?.Dispose();

    internal static List<ImageRow> WriteImages(string root, int perClass, int seed)
    {
        var rng = new Random(seed);
        var rows = new List<ImageRow>();
        string[] names = ["horizontal", "vertical", "diagonal"];
        for (int k = 0; k < names.Length; k++)
        {
            Directory.CreateDirectory(Path.Combine(root, names[k]));
            for (int i = 0; i < perClass; i++)
            {
                var px = new byte[H * W];
                for (int j = 0; j < px.Length; j++) px[j] = (byte)rng.Next(0, 60);
                int r = rng.Next(2, H - 2), c = rng.Next(2, W - 2);
                for (int t = -5; t <= 5; t++)
                {
                    (int y, int x) = k switch { 0 => (r, c + t), 1 => (r + t, c), _ => (r + t, c + t) };
                    if (y >= 0 && y < H && x >= 0 && x < W) px[y * W + x] = 255;
                }
                string path = Path.Combine(root, names[k], $"{i:D3}.png");
                Png.Write(path, px, W, H, 1);
                rows.Add(new ImageRow { ImagePath = path, Label = names[k] });
            }
        }
        return rows;
    }

    internal static IEstimator<ITransformer> Pipeline(MLContext ml, CnnTrainerOptions options) =>
        ml.Transforms.Conversion.MapValueToKey("Label")
            .Append(ml.Transforms.LoadImages("Image", imageFolder: null, inputColumnName: "ImagePath"))
            .Append(ml.Transforms.ResizeImages("Image", W, H, "Image"))
            .Append(ml.Transforms.ExtractPixels("Features", "Image", colorsToExtract: ImagePixelExtractingEstimator.ColorBits.Red))
            .Append(ml.Transforms.TrainCnn(options));

    private static CnnTransformer Cnn(ITransformer model) => ((IEnumerable<ITransformer>)model).OfType<CnnTransformer>().Single();

    [TestMethod]
    public void FitsPredictsAndEvaluatesConsistentlyWithTheNetwork()
    {
        var scored = _model.Transform(_data);
        Assert.AreEqual("Key<UInt32, 0-2>", scored.Schema["PredictedLabel"].Type.ToString());
        var metrics = _ml.MulticlassClassification.Evaluate(scored);
        Assert.IsTrue(metrics.MicroAccuracy > 0.9, $"micro accuracy {metrics.MicroAccuracy}");

        // The C# network's own predictions give the same accuracy as ML.NET's evaluation of the ONNX-backed columns.
        var cnn = Cnn(_model);
        var features = _model.Transform(_data);
        var own = cnn.PredictWithNetwork(features);
        var labels = scored.GetColumn<uint>("Label").ToArray();
        double ownAccuracy = own.Select((p, i) => Array.IndexOf(p, p.Max()) + 1 == labels[i] ? 1.0 : 0.0).Average();
        Assert.AreEqual(ownAccuracy, metrics.MicroAccuracy, 1e-9);
        var scores = scored.GetColumn<float[]>("Score").ToArray();
        for (int i = 0; i < scores.Length; i++)
            for (int k = 0; k < 3; k++) Assert.AreEqual(own[i][k], scores[i][k], 1e-4);
        Assert.AreEqual(3, metrics.ConfusionMatrix.NumberOfClasses);
        Assert.IsTrue(metrics.LogLoss < 1.0);

        VBuffer<ReadOnlyMemory<char>> keys = default;
        scored.Schema["PredictedLabel"].GetKeyValues(ref keys);
        CollectionAssert.AreEqual(new[] { "horizontal", "vertical", "diagonal" }, keys.DenseValues().Select(v => v.ToString()).ToArray());
        CollectionAssert.AreEqual(new[] { "horizontal", "vertical", "diagonal" }, cnn.ClassNames.ToArray());
        StringAssert.Contains(cnn.Summary().ToString(), "Total params");
    }

    [TestMethod]
    public void PredictionEngineWorks()
    {
        var engine = _ml.Model.CreatePredictionEngine<ImageRow, Prediction>(_model);
        int correct = 0;
        foreach (var row in _rows.Take(30))
        {
            var p = engine.Predict(row);
            Assert.AreEqual(3, p.Score.Length);
            Assert.AreEqual(1.0, p.Score.Sum(), 1e-4);
            string[] names = ["horizontal", "vertical", "diagonal"];
            if (names[p.PredictedLabel - 1] == row.Label) correct++;
        }
        Assert.IsTrue(correct >= 27, $"{correct}/30");
    }

    [TestMethod]
    public void LogChannelShowsEpochs()
    {
        lock (Log) Assert.AreEqual(12, Log.Count, string.Join("\n", Log));
    }

    [TestMethod]
    public void SaveLoadRoundTripGivesIdenticalScores()
    {
        string path = _folder["model.zip"];
        _ml.Model.Save(_model, _data.Schema, path);
        var ml2 = new MLContext();   // a fresh context, no RegisterMLConv: ML.NET finds the arg-max mapping by itself
        var loaded = ml2.Model.Load(path, out var inputSchema);
        Assert.IsNotNull(inputSchema);
        var a = _model.Transform(_data);
        var b = loaded.Transform(_data);
        var sa = a.GetColumn<float[]>("Score").ToArray();
        var sb = b.GetColumn<float[]>("Score").ToArray();
        for (int i = 0; i < sa.Length; i++) CollectionAssert.AreEqual(sa[i], sb[i]);
        CollectionAssert.AreEqual(a.GetColumn<uint>("PredictedLabel").ToArray(), b.GetColumn<uint>("PredictedLabel").ToArray());
        var m = ml2.MulticlassClassification.Evaluate(b);
        Assert.AreEqual(_ml.MulticlassClassification.Evaluate(a).MicroAccuracy, m.MicroAccuracy, 1e-12);
    }

    /// <summary>
    /// After Save and Load in a fresh context the network comes back from the ONNX graph inside the zip: same class
    /// names, normalisation and probabilities, and it exports, summarises and trains further.
    /// </summary>
    [TestMethod]
    public void NetworkComesBackFromALoadedModel()
    {
        string path = _folder["network.zip"];
        _ml.Model.Save(_model, _data.Schema, path);
        var loaded = new MLContext().Model.Load(path, out _);
        Assert.IsFalse(((IEnumerable<ITransformer>)loaded).OfType<CnnTransformer>().Any(), "a loaded chain holds ML.NET's own transformers");
        var original = Cnn(_model).Network;
        var network = CnnModel.FromTransformer(loaded);
        Assert.IsTrue(CnnModel.TryGetNetwork(loaded, out var again) && again is not null);
        Assert.AreSame(original, CnnModel.FromTransformer(_model), "a fitted pipeline gives its own network");

        CollectionAssert.AreEqual(original.ClassNames.ToArray(), network.ClassNames.ToArray());
        CollectionAssert.AreEqual(original.Normalization.Mean, network.Normalization.Mean);
        CollectionAssert.AreEqual(original.Normalization.Std, network.Normalization.Std);
        Assert.AreEqual((1, H, W), (network.Channels, network.Height, network.Width));
        Assert.AreEqual(original.ParameterCount, network.ParameterCount);
        Assert.AreEqual(original.Architecture, network.Architecture);
        var pixels = ReadPixels(_model.Transform(_data));
        var expected = original.ProbabilitiesFromPixels(pixels);
        var actual = network.ProbabilitiesFromPixels(pixels);
        for (int i = 0; i < expected.Length; i++) Assert.AreEqual(expected[i], actual[i], 1e-5);

        StringAssert.Contains(network.Summary().ToString(), "Total params");
        var report = MLConv.Export.OnnxExporter.Export(network, _folder["again.onnx"]);
        Assert.IsTrue(MLConv.Export.OnnxVerifier.Verify(network, report.Path, pixels).Passed(1e-4));

        var labels = _model.Transform(_data).GetColumn<uint>("Label").Select(l => (int)l - 1).ToArray();
        var before = network.Parameters.First().Value.Span.ToArray();
        var result = new Trainer(new TrainerOptions { Epochs = 1, BatchSize = 16, RandomShift = 0 }).Fit(network, pixels, labels);
        Assert.AreEqual(1, result.History.Count);
        CollectionAssert.AreNotEqual(before, network.Parameters.First().Value.Span.ToArray(), "training further moves the weights");

        var noCnn = _ml.Transforms.CopyColumns("X", "Label").Fit(_data);
        Assert.IsFalse(CnnModel.TryGetNetwork(noCnn, out _));
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => CnnModel.FromTransformer(noCnn)).Message, "no TrainCnn step");
    }

    /// <summary>
    /// MulticlassClassification.Trainers.Cnn is TrainCnn under ML.NET's trainer catalog; with no image options it reads
    /// 1x16x12 from ExtractPixels' column type and trains the same network as explicit options do.
    /// </summary>
    [TestMethod]
    public void TrainersCnnReadsTheImageShapeFromTheColumnAndMatchesTrainCnn()
    {
        var ml = new MLContext(seed: 1);
        int epochLines = 0;
        ml.Log += (_, e) => { if (e.Message.Contains("TrainCnn: epoch", StringComparison.Ordinal)) Interlocked.Increment(ref epochLines); };
        var trainer = ml.MulticlassClassification.Trainers.Cnn(new CnnTrainerOptions { Trainer = { Epochs = 2, BatchSize = 8, Seed = 2, RandomShift = 0 } });
        var model = ml.Transforms.Conversion.MapValueToKey("Label")
            .Append(ml.Transforms.LoadImages("Image", imageFolder: null, inputColumnName: "ImagePath"))
            .Append(ml.Transforms.ResizeImages("Image", W, H, "Image"))
            .Append(ml.Transforms.ExtractPixels("Features", "Image", colorsToExtract: ImagePixelExtractingEstimator.ColorBits.Red))
            .Append(trainer).Fit(_data);
        var explicitShape = Pipeline(new MLContext(seed: 1), new CnnTrainerOptions { ImageHeight = H, ImageWidth = W, Channels = 1, Trainer = { Epochs = 2, BatchSize = 8, Seed = 2, RandomShift = 0 } }).Fit(_data);
        var network = Cnn(model).Network;
        Assert.AreEqual((1, H, W), (network.Channels, network.Height, network.Width));
        var a = model.Transform(_data).GetColumn<float[]>("Score").ToArray();
        var b = explicitShape.Transform(_data).GetColumn<float[]>("Score").ToArray();
        for (int i = 0; i < a.Length; i++) CollectionAssert.AreEqual(b[i], a[i]);
        Assert.IsNull(trainer.Options.ImageHeight, "the options are not rewritten");
        Assert.AreEqual(2, epochLines, "the trainer logs into the user's MLContext");
    }

    private static Training.Tensors.Tensor ReadPixels(IDataView features)
    {
        var rows = features.GetColumn<float[]>("Features").ToArray();
        var x = new Training.Tensors.Tensor(rows.Length, 1, H, W);
        for (int i = 0; i < rows.Length; i++) rows[i].CopyTo(x.Data, i * H * W);
        return x;
    }

    [TestMethod]
    public void OnnxExportMatchesOrtAndRunsThroughApplyOnnxModel()
    {
        var cnn = Cnn(_model);
        string onnx = _folder["cnn.onnx"];
        cnn.ExportOnnx(onnx);
        var features = _model.Transform(_data);
        var report = cnn.VerifyOnnx(onnx, features);
        Assert.IsTrue(report.Passed(1e-4), report.ToString());

        // ApplyOnnxModel on the exported file (input [N, C, H, W] raw pixels, normalisation inside).
        var shapes = new Dictionary<string, int[]> { ["input"] = [1, 1, H, W] };
        var apply = _ml.Transforms.CopyColumns("input", "Features")
            .Append(_ml.Transforms.ApplyOnnxModel(["probabilities"], ["input"], onnx, shapes, gpuDeviceId: null, fallbackToCpu: false));
        var viaOnnx = apply.Fit(features).Transform(features).GetColumn<float[]>("probabilities").ToArray();
        var own = cnn.PredictWithNetwork(features);
        for (int i = 0; i < own.Length; i++)
            for (int k = 0; k < 3; k++) Assert.AreEqual(own[i][k], viaOnnx[i][k], 1e-4);
    }

    [TestMethod]
    public void SchemaErrorsNameColumnAndTypes()
    {
        var ml = new MLContext(seed: 1);
        var wrongSize = ml.Transforms.Conversion.MapValueToKey("Label")
            .Append(ml.Transforms.LoadImages("Image", null, "ImagePath"))
            .Append(ml.Transforms.ResizeImages("Image", W, H, "Image"))
            .Append(ml.Transforms.ExtractPixels("Features", "Image"))   // 3 channels: 3·16·12 values
            .Append(ml.Transforms.TrainCnn(new CnnTrainerOptions { ImageHeight = H, ImageWidth = W, Channels = 1, Trainer = { Epochs = 1 } }));
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => wrongSize.Fit(_data));
        StringAssert.Contains(e.Message, "'Features'");
        StringAssert.Contains(e.Message, "Vector<Single, 3, 16, 12>");
        StringAssert.Contains(e.Message, "192 values");

        var floatLabel = ml.Data.LoadFromEnumerable(new[] { new FloatLabelRow() });
        var est = ml.Transforms.TrainCnn(new CnnTrainerOptions { ImageHeight = 2, ImageWidth = 2 });
        e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => est.Fit(floatLabel));
        StringAssert.Contains(e.Message, "'Label'");
        StringAssert.Contains(e.Message, "Single");
        e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => est.GetOutputSchema(Shape(floatLabel.Schema)));
        StringAssert.Contains(e.Message, "'Label'");
        var missing = ml.Transforms.TrainCnn(new CnnTrainerOptions { FeatureColumnName = "Pixels", ImageHeight = 2, ImageWidth = 2 });
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => missing.Fit(floatLabel)).Message, "'Pixels' not found");

        var outSchema = _ml.Transforms.TrainCnn(new CnnTrainerOptions { ImageHeight = 2, ImageWidth = 2 }).GetOutputSchema(Shape(
            _ml.Data.LoadFromEnumerable(new[] { new IntLabelRow() }).Schema));
        Assert.IsTrue(outSchema.Any(c => c.Name == "PredictedLabel" && c.IsKey));
        Assert.IsTrue(outSchema.Any(c => c.Name == "Score" && c.Kind == SchemaShape.Column.VectorKind.Vector));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => _ml.Transforms.TrainCnn(new CnnTrainerOptions { Channels = 2 }));
    }

    [TestMethod]
    public void IntegerLabelsAndCancellation()
    {
        var ml = new MLContext(seed: 3);
        var rows = Enumerable.Range(0, 20).Select(i => new IntLabelRow { Label = i % 2, Features = [.. Enumerable.Range(0, 4).Select(j => (float)((i % 2) * 2 + j % 2))] });
        var data = ml.Data.LoadFromEnumerable(rows);
        var model = ml.Transforms.TrainCnn(new CnnTrainerOptions
        {
            ImageHeight = 2, ImageWidth = 2, Trainer = { Epochs = 3, BatchSize = 4, RandomShift = 0 },
            CustomArchitecture = (c, h, w, k) => new Training.Layers.Sequential(new Training.Layers.Flatten(), new Training.Layers.Linear(c * h * w, k)),
        }).Fit(data);
        Assert.AreEqual(2, model.ClassNames.Count);
        Assert.AreEqual(20, model.Transform(data).GetColumn<uint>("PredictedLabel").Count());
        Assert.IsTrue(model.TrainingResult.History.All(h => h.ValidationAccuracy is null));

        var withValidation = ml.Transforms.TrainCnn(new CnnTrainerOptions
        {
            ImageHeight = 2, ImageWidth = 2, Trainer = { Epochs = 2, BatchSize = 4, RandomShift = 0 }, ValidationFraction = 0.25,
            CustomArchitecture = (c, h, w, k) => new Training.Layers.Sequential(new Training.Layers.Flatten(), new Training.Layers.Linear(c * h * w, k)),
        }).Fit(data);
        Assert.IsTrue(withValidation.TrainingResult.History.All(h => h.ValidationAccuracy is not null));
        var external = ml.Transforms.TrainCnn(new CnnTrainerOptions
        {
            ImageHeight = 2, ImageWidth = 2, Trainer = { Epochs = 1, BatchSize = 4, RandomShift = 0 }, ValidationData = data,
            CustomArchitecture = (c, h, w, k) => new Training.Layers.Sequential(new Training.Layers.Flatten(), new Training.Layers.Linear(c * h * w, k)),
        }).Fit(data);
        Assert.IsNotNull(external.TrainingResult.History.Single().ValidationLoss);

        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.ThrowsExactly<OperationCanceledException>(() => ml.Transforms.TrainCnn(new CnnTrainerOptions
        {
            ImageHeight = 2, ImageWidth = 2, Trainer = { Epochs = 3 }, CancellationToken = cts.Token,
            CustomArchitecture = (c, h, w, k) => new Training.Layers.Sequential(new Training.Layers.Flatten(), new Training.Layers.Linear(c * h * w, k)),
        }).Fit(data));
    }

    /// <summary>
    /// Scoring follows the user's MLContext: GpuDeviceId 0 with FallbackToCpu scores (on CPU where ONNX Runtime has no
    /// CUDA); without the fallback, an ONNX Runtime without CUDA refuses rather than silently scoring on CPU.
    /// </summary>
    [TestMethod]
    public void ScoringHonoursTheContextsGpuSettings()
    {
        var rows = Enumerable.Range(0, 20).Select(i => new IntLabelRow { Label = i % 2, Features = [.. Enumerable.Range(0, 4).Select(j => (float)((i % 2) * 2 + j % 2))] }).ToArray();
        CnnTransformer Fit(bool fallbackToCpu)
        {
            var ml = new MLContext(seed: 3) { GpuDeviceId = 0, FallbackToCpu = fallbackToCpu };
            return ml.Transforms.TrainCnn(new CnnTrainerOptions
            {
                ImageHeight = 2, ImageWidth = 2, Trainer = { Epochs = 1, BatchSize = 4, RandomShift = 0 },
                CustomArchitecture = (c, h, w, k) => new Training.Layers.Sequential(new Training.Layers.Flatten(), new Training.Layers.Linear(c * h * w, k)),
            }).Fit(ml.Data.LoadFromEnumerable(rows));
        }

        using var model = Fit(fallbackToCpu: true);
        Assert.AreEqual(20, model.Transform(_ml.Data.LoadFromEnumerable(rows)).GetColumn<uint>("PredictedLabel").Count());
        if (!Microsoft.ML.OnnxRuntime.OrtEnv.Instance().GetAvailableProviders().Contains("CUDAExecutionProvider"))
            StringAssert.Contains(Assert.ThrowsExactly<InvalidOperationException>(() => Fit(fallbackToCpu: false)).Message, "MLContext.GpuDeviceId is 0");
    }

    /// <summary>SchemaShape.Create is internal to ML.NET; tests reach it by reflection.</summary>
    private static SchemaShape Shape(DataViewSchema schema) =>
        (SchemaShape)typeof(SchemaShape).GetMethod("Create", System.Reflection.BindingFlags.Static | System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.NonPublic, [typeof(DataViewSchema)])!
            .Invoke(null, [schema])!;

    [TestMethod]
    public void IntegerKeyLabelsKeepTheirValuesAsClassNames()
    {
        var ml = new MLContext(seed: 4);
        var rows = Enumerable.Range(0, 24).Select(i => new IntLabelRow { Label = 5 + i % 3, Features = [.. Enumerable.Range(0, 4).Select(j => (float)((i % 3) + j))] });
        var data = ml.Data.LoadFromEnumerable(rows);
        var model = ml.Transforms.Conversion.MapValueToKey("Label").Append(ml.Transforms.TrainCnn(new CnnTrainerOptions
        {
            ImageHeight = 2, ImageWidth = 2, Trainer = { Epochs = 2, BatchSize = 4, RandomShift = 0 },
            CustomArchitecture = (c, h, w, k) => new Training.Layers.Sequential(new Training.Layers.Flatten(), new Training.Layers.Linear(c * h * w, k)),
        })).Fit(data);
        var cnn = Cnn(model);
        CollectionAssert.AreEqual(new[] { "5", "6", "7" }, cnn.ClassNames.ToArray());
        VBuffer<ReadOnlyMemory<char>> keys = default;
        model.Transform(data).Schema["PredictedLabel"].GetKeyValues(ref keys);
        CollectionAssert.AreEqual(new[] { "5", "6", "7" }, keys.DenseValues().Select(v => v.ToString()).ToArray());
    }

    public sealed class FloatLabelRow
    {
        public float Label { get; set; }
        [VectorType(4)] public float[] Features { get; set; } = new float[4];
    }

    public sealed class IntLabelRow
    {
        public int Label { get; set; }
        [VectorType(4)] public float[] Features { get; set; } = new float[4];
    }
}
