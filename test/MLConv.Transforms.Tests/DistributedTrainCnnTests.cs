using Microsoft.ML;
using MLConv.Tests.Data;
using MLConv.Tests.Distributed;
using MLConv.Training.Fitting;
using MLConv.Training.Models;

namespace MLConv.Transforms.Tests;

/// <summary>
/// TrainCnn in data-parallel training: <see cref="CnnTrainerOptions.Trainer"/>'s communicator reaches the trainer, and every
/// rank (ranks as threads, <see cref="ThreadGroup"/>) fits the network one process fits with the same shard count.
/// </summary>
[TestClass]
public sealed class DistributedTrainCnnTests
{
    [TestMethod]
    public void EveryRankFitsTheSingleProcessNetwork()
    {
        using var folder = new TempFolder();
        var rows = CnnPipelineTests.WriteImages(folder.Path, 10, seed: 4);
        float[] Fit(Training.Distributed.ICommunicator? comm)
        {
            var ml = new MLContext(seed: 1);
            var options = new CnnTrainerOptions
            {
                Architecture = "SimpleCNN", ImageHeight = 16, ImageWidth = 12, ValidationFraction = 0.2,
                Trainer = { Epochs = 2, BatchSize = 8, GradientShards = 2, Seed = 2, RandomShift = 1, Communicator = comm },
            };
            var model = CnnPipelineTests.Pipeline(ml, options).Fit(ml.Data.LoadFromEnumerable(rows));
            var net = ((IEnumerable<ITransformer>)model).OfType<CnnTransformer>().Single().Network;
            return [.. net.Parameters.SelectMany(p => p.Value.Span.ToArray()), .. net.Root.NamedBuffers().SelectMany(b => b.Value.Span.ToArray())];
        }
        var single = Fit(null);
        var ranks = ThreadGroup.Run(2, Fit);
        CollectionAssert.AreEqual(single, ranks[0]);
        CollectionAssert.AreEqual(single, ranks[1]);
    }
}
