using System.IO.Compression;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLConv.Tests.Data;
using MLConv.Training.Layers;

namespace MLConv.Transforms.Tests;

/// <summary>
/// The ML.NET face under bad input and misuse (docs/reliability.md): rows with NaN or ±∞ pixels on both scoring paths,
/// a saved model changed on disk, one fitted model scored from several threads, labels that do not match the classes,
/// and an upstream transform failing on a row.
/// </summary>
[TestClass]
public sealed class ReliabilityTests
{
    private const int H = 8, W = 6, Pixels = H * W;

    public sealed class Row
    {
        public uint Label { get; set; }
        [VectorType(Pixels)] public float[] Features { get; set; } = new float[Pixels];
    }

    public sealed class IntRow
    {
        public int Label { get; set; }
        [VectorType(Pixels)] public float[] Features { get; set; } = new float[Pixels];
    }

    public sealed class Scored
    {
        public float[] Score { get; set; } = [];
        public uint PredictedLabel { get; set; }
    }

    /// <summary>Three classes: a bright top, middle or bottom band, with noise.</summary>
    private static Row[] Rows(int n, int seed)
    {
        var rng = new Random(seed);
        return [.. Enumerable.Range(0, n).Select(i =>
        {
            var f = new float[Pixels];
            for (int j = 0; j < Pixels; j++) f[j] = (float)rng.NextDouble() * 0.3f + (j / W / 3 == i % 3 ? 1f : 0f);
            return new Row { Label = (uint)(i % 3), Features = f };
        })];
    }

    private static CnnTrainerOptions Options(NonFiniteFeatures policy = NonFiniteFeatures.Reject) => new()
    {
        ImageHeight = H, ImageWidth = W, NonFiniteFeatures = policy,
        Trainer = { Epochs = 4, BatchSize = 8, RandomShift = 0, Seed = 1 },
        CustomArchitecture = (c, h, w, k) => new Sequential(new Conv2d(c, 4, 3, padding: 1), new ReLU(), new MaxPool2d(2), new Flatten(), new Linear(4 * (h / 2) * (w / 2), k)),
    };

    private static (MLContext Ml, ITransformer Model, IDataView Data) Fit(NonFiniteFeatures policy = NonFiniteFeatures.Reject)
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(Rows(48, 1));
        var keyed = ml.Transforms.Conversion.MapValueToKey("Label").Fit(data);
        var model = keyed.Append(ml.Transforms.TrainCnn(Options(policy)).Fit(keyed.Transform(data)));
        return (ml, model, data);
    }

    private static Row[] WithNonFinite(out int nanRow, out int infRow)
    {
        var rows = Rows(6, 9);
        nanRow = 1;
        infRow = 4;
        rows[nanRow].Features[17] = float.NaN;
        rows[infRow].Features.AsSpan().Fill(float.PositiveInfinity);
        return rows;
    }

    private static string AllMessages(Exception e)
    {
        var parts = new List<string>();
        for (var x = e; x is not null; x = x.InnerException) parts.Add(x.Message);
        return string.Join(" | ", parts);
    }

    private static CnnTransformer Cnn(ITransformer model) => ((IEnumerable<ITransformer>)model).OfType<CnnTransformer>().Single();

    [TestMethod]
    public void NonFiniteRowsAreRejectedOnBothScoringPathsByDefault()
    {
        var (ml, model, _) = Fit();
        var bad = ml.Data.LoadFromEnumerable(WithNonFinite(out _, out _));
        var e = Assert.Throws<Exception>(() => model.Transform(bad).GetColumn<uint>("PredictedLabel").ToArray());
        StringAssert.Contains(AllMessages(e), "NaN or an infinity");
        using var engine = ml.Model.CreatePredictionEngine<Row, Scored>(model);
        StringAssert.Contains(AllMessages(Assert.Throws<Exception>(() => engine.Predict(WithNonFinite(out int r, out _)[r]))), "NaN or an infinity");
        var features = model.Transform(bad);
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => Cnn(model).PredictWithNetwork(features)).Message, "features column 'Features' holds NaN at slot 17");
    }

    [TestMethod]
    public void FlaggedNonFiniteRowsGetNaNScoresAndNoLabelOnBothPaths()
    {
        var (ml, model, _) = Fit(NonFiniteFeatures.Flag);
        var rows = WithNonFinite(out int nanRow, out int infRow);
        var scored = model.Transform(ml.Data.LoadFromEnumerable(rows));
        var scores = scored.GetColumn<float[]>("Score").ToArray();
        var labels = scored.GetColumn<uint>("PredictedLabel").ToArray();
        var own = Cnn(model).PredictWithNetwork(scored);
        for (int i = 0; i < rows.Length; i++)
        {
            bool bad = i == nanRow || i == infRow;
            Assert.AreEqual(bad, scores[i].All(float.IsNaN), $"row {i}: ML.NET scores [{string.Join(", ", scores[i])}]");
            Assert.AreEqual(bad, own[i].All(float.IsNaN), $"row {i}: PredictWithNetwork [{string.Join(", ", own[i])}]");
            Assert.AreEqual(bad, labels[i] == 0, $"row {i}: PredictedLabel key {labels[i]} (0 = missing)");
            if (!bad) for (int k = 0; k < 3; k++) Assert.AreEqual(own[i][k], scores[i][k], 1e-4);
        }
    }

    /// <summary>16 bytes flipped inside the largest weight tensor of the ONNX entry: the loaded model refuses to score.</summary>
    [TestMethod]
    public void ABitFlippedModelZipFailsItsChecksumAtTheFirstScoredRow()
    {
        var (ml, model, data) = Fit();
        using var dir = new TempFolder();
        string path = dir["model.zip"];
        ml.Model.Save(model, data.Schema, path);
        var loaded = new MLContext(seed: 2);
        loaded.RegisterMLConv();
        var intact = loaded.Model.Load(path, out _);
        var expected = intact.Transform(data).GetColumn<uint>("PredictedLabel").ToArray();

        using (var zip = ZipFile.Open(path, ZipArchiveMode.Update))
        {
            var entry = zip.Entries.Where(e => e.FullName.Contains("OnnxModel", StringComparison.Ordinal)).OrderByDescending(e => e.Length).First();
            byte[] bytes;
            using (var s = entry.Open()) { using var m = new MemoryStream(); s.CopyTo(m); bytes = m.ToArray(); }
            // The largest weight tensor's float bytes, as the ONNX initializer holds them (raw little-endian floats).
            var largest = Cnn(model).Network.Parameters.Select(p => p.Value).OrderByDescending(t => t.Length).First();
            var weights = System.Runtime.InteropServices.MemoryMarshal.AsBytes(largest.Span).ToArray();
            int at = bytes.AsSpan().IndexOf(weights) + weights.Length / 2;
            Assert.IsGreaterThan(weights.Length / 2, at, "the weights are in the ONNX entry");
            for (int i = 0; i < 16; i++) bytes[at + i] ^= 0x5A;
            entry.Delete();
            using var w = zip.CreateEntry(entry.FullName).Open();
            w.Write(bytes);
        }
        var corrupted = loaded.Model.Load(path, out _);
        var e = Assert.Throws<Exception>(() => corrupted.Transform(data).GetColumn<uint>("PredictedLabel").ToArray());
        StringAssert.Contains(AllMessages(e), "fails MLConv's weights checksum");
        // Score alone never carries the changed weights' answer either.
        Assert.IsTrue(corrupted.Transform(data).GetColumn<float[]>("Score").All(s => s.All(float.IsNaN)));
        CollectionAssert.AreEqual(expected, intact.Transform(data).GetColumn<uint>("PredictedLabel").ToArray());
    }

    /// <summary>
    /// Four threads each create, use and dispose their own PredictionEngine (which disposes the transformer it was given)
    /// while a fifth scores through Transform: every row scores the same as before, and the model still works afterwards.
    /// </summary>
    [TestMethod]
    public void OneFittedModelScoresFromSeveralThreadsWhateverEachDisposes()
    {
        var (ml, model, data) = Fit();
        var rows = Rows(12, 5);
        var expected = model.Transform(ml.Data.LoadFromEnumerable(rows)).GetColumn<float[]>("Score").ToArray();
        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var threads = Enumerable.Range(0, 5).Select(t => new Thread(() =>
        {
            try
            {
                for (int round = 0; round < 6; round++)
                {
                    if (t == 4)
                    {
                        var s = model.Transform(ml.Data.LoadFromEnumerable(rows)).GetColumn<float[]>("Score").ToArray();
                        for (int i = 0; i < rows.Length; i++) if (!s[i].SequenceEqual(expected[i])) failures.Enqueue($"Transform row {i}");
                        continue;
                    }
                    using var engine = ml.Model.CreatePredictionEngine<Row, Scored>(model);
                    for (int i = 0; i < rows.Length; i++)
                        if (!engine.Predict(rows[i]).Score.SequenceEqual(expected[i])) failures.Enqueue($"thread {t} row {i}");
                }
            }
            catch (Exception e) { failures.Enqueue($"thread {t}: {e.GetType().Name}: {e.Message}"); }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        Assert.IsEmpty(failures, string.Join("\n", failures.Take(5)));
        CollectionAssert.AreEqual(expected[0], model.Transform(ml.Data.LoadFromEnumerable(rows)).GetColumn<float[]>("Score").First());
    }

    [TestMethod]
    public void IntegerLabelsMustCoverTheirClasses()
    {
        var ml = new MLContext(seed: 1);
        IntRow[] Labelled(Func<int, int> label) => [.. Rows(24, 3).Select((r, i) => new IntRow { Label = label(i), Features = r.Features })];
        var stray = ml.Data.LoadFromEnumerable(Labelled(i => i == 5 ? 999 : i % 3));
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => ml.Transforms.TrainCnn(Options()).Fit(stray)).Message, "up to 999");
        var single = ml.Data.LoadFromEnumerable(Labelled(_ => 1));
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => ml.Transforms.TrainCnn(Options()).Fit(single)).Message, "1 of these 2 classes have no rows (0)");
        var gap = ml.Data.LoadFromEnumerable(Labelled(i => i % 2 * 2));
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => ml.Transforms.TrainCnn(Options()).Fit(gap)).Message, "integers 0..2, but 1 of these 3 classes have no rows (1)");
    }

    [TestMethod]
    public void EnumsAndRangesAreCheckedWhenTheEstimatorIsMade()
    {
        var ml = new MLContext();
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Transforms.TrainCnn(new CnnTrainerOptions { NonFiniteFeatures = (NonFiniteFeatures)7 }));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Transforms.TrainCnn(new CnnTrainerOptions { Normalization = (PixelNormalization)5 }));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Transforms.TrainCnn(new CnnTrainerOptions { Trainer = { Optimizer = (Training.Fitting.OptimizerKind)5 } }));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Transforms.TrainCnn(new CnnTrainerOptions { Trainer = { Schedule = (Training.Fitting.LearningRateSchedule)9 } }));
        Assert.ThrowsExactly<ArgumentException>(() => ml.Transforms.TrainCnn(new CnnTrainerOptions { Normalization = PixelNormalization.Custom, Mean = [float.NaN], Std = [1] }));
    }

    [TestMethod]
    public void AMissingImageFileIsNamedInTheMessage()
    {
        var ml = new MLContext(seed: 1);
        using var dir = new TempFolder();
        var rows = CnnPipelineTests.WriteImages(dir.Path, 3, seed: 1);
        string missing = Path.Combine(dir.Path, "gone", "missing.png");
        rows[4].ImagePath = missing;
        var e = Assert.ThrowsExactly<InvalidDataException>(() => CnnPipelineTests.Pipeline(ml, new CnnTrainerOptions
        {
            ImageHeight = 16, ImageWidth = 12, Trainer = { Epochs = 1, RandomShift = 0 },
        }).Fit(ml.Data.LoadFromEnumerable(rows)));
        StringAssert.Contains(e.Message, "computing column 'Features' failed");
        StringAssert.Contains(e.Message, "missing.png");
    }

    [TestMethod]
    public void APngCutShortIsRefusedBeforeTrainingNamingTheFile()
    {
        var ml = new MLContext(seed: 1);
        using var dir = new TempFolder();
        var rows = CnnPipelineTests.WriteImages(dir.Path, 3, seed: 1);
        byte[] whole = File.ReadAllBytes(rows[4].ImagePath);
        File.WriteAllBytes(rows[4].ImagePath, whole[..(whole.Length / 2)]);
        // ML.NET's own decoder hands the half file over as a whole image: without the check, TrainCnn would train on it.
        var loaded = ml.Transforms.LoadImages("Image", imageFolder: null, inputColumnName: "ImagePath")
            .Fit(ml.Data.LoadFromEnumerable(rows)).Transform(ml.Data.LoadFromEnumerable(rows));
        Assert.AreEqual(rows.Count, loaded.GetColumn<Microsoft.ML.Data.MLImage>("Image").Count(), "LoadImages reads the cut file");

        var options = new CnnTrainerOptions { ImageHeight = 16, ImageWidth = 12, Trainer = { Epochs = 1, RandomShift = 0 } };
        var e = Assert.ThrowsExactly<InvalidDataException>(() => CnnPipelineTests.Pipeline(ml, options).Fit(ml.Data.LoadFromEnumerable(rows)));
        StringAssert.Contains(e.Message, "Training data row 4");
        StringAssert.Contains(e.Message, Path.GetFileName(rows[4].ImagePath));
        StringAssert.Contains(e.Message, "'ImagePath'");

        // The check can be turned off, and then the damaged file trains as ML.NET decoded it.
        options.ImagePathColumnName = null;
        Assert.IsNotNull(CnnPipelineTests.Pipeline(ml, options).Fit(ml.Data.LoadFromEnumerable(rows)));
    }
}
