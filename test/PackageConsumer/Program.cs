// The package check's consumer (scripts/pack-check.sh): "train DIR" trains a CNN through the packages on a tiny
// in-memory dataset, scores it, saves DIR/model.zip and DIR/loss.png; "score DIR" — a fresh process that has not used
// MLConv yet and never calls RegisterMLConv — loads the zip, scores it, and gets the network back. Each prints
// "accuracy X" and exits non-zero below 90 %.
using Microsoft.ML;
using Microsoft.ML.Data;
using MLConv.Plots;
using MLConv.Transforms;

if (args.Length != 2 || args[0] is not ("train" or "score"))
{
    Console.Error.WriteLine("usage: PackageConsumer train|score DIR");
    return 2;
}
return args[0] == "train" ? Train(args[1]) : Score(args[1]);

static int Train(string dir)
{
    var ml = new MLContext(seed: 1);
    var data = ml.Data.LoadFromEnumerable(Bars.Rows(60, seed: 3));
    var options = new CnnTrainerOptions { Architecture = "LeNet5", Trainer = { Epochs = 8, BatchSize = 10, RandomShift = 0, Seed = 1 } };
    var model = ml.MulticlassClassification.Trainers.Cnn(options).Fit(data);   // 1x12x12 read from the Features column
    ml.Model.Save(model, data.Schema, Path.Combine(dir, "model.zip"));
    TrainingCurves.WriteLoss(model.TrainingResult.History, Path.Combine(dir, "loss.png"));
    return Evaluate(ml, model, data);
}

// No MLConv type in this method: the process has not loaded MLConv when ML.NET loads the zip.
static int Score(string dir)
{
    var ml = new MLContext(seed: 1);
    var data = ml.Data.LoadFromEnumerable(Bars.Rows(60, seed: 3));
    var model = ml.Model.Load(Path.Combine(dir, "model.zip"), out _);
    int rc = Evaluate(ml, model, data);
    Console.WriteLine(NetworkBack(model));
    return rc;
}

[System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
static string NetworkBack(ITransformer model)
{
    var network = CnnModel.FromTransformer(model);
    return $"network back from the zip: {network.Architecture}, [{network.Channels}, {network.Height}, {network.Width}], {network.ParameterCount} parameters";
}

static int Evaluate(MLContext ml, ITransformer model, IDataView data)
{
    var scored = ml.Transforms.Conversion.MapValueToKey("Label").Fit(data).Transform(model.Transform(data));
    var metrics = ml.MulticlassClassification.Evaluate(scored);
    Console.WriteLine($"accuracy {metrics.MicroAccuracy:F4}");
    return metrics.MicroAccuracy >= 0.9 ? 0 : 1;
}

/// <summary>Two classes of 12x12 pictures: a horizontal or a vertical bar at a random place, on noise.</summary>
internal sealed class Bars
{
    public uint Label { get; set; }
    [VectorType(1, 12, 12)] public float[] Features { get; set; } = [];

    public static IEnumerable<Bars> Rows(int count, int seed)
    {
        var rng = new Random(seed);
        for (int i = 0; i < count; i++)
        {
            var px = new float[144];
            for (int j = 0; j < px.Length; j++) px[j] = rng.Next(0, 50);
            int at = rng.Next(2, 10), from = rng.Next(0, 4);
            for (int t = from; t < from + 8; t++) px[i % 2 == 0 ? at * 12 + t : t * 12 + at] = 255;
            yield return new Bars { Label = (uint)(i % 2), Features = px };
        }
    }
}
