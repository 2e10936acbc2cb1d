using MLConv.Training.Kernels;
using MLConv.Training.Losses;
using MLConv.Training.Models;
using MLConv.Training.Optimizers;
using MLConv.Training.Tensors;

namespace MLConv.Tests.Models;

/// <summary>
/// Once shapes settle, a training step (forward, loss, backward, Adam) and a planned inference forward allocate no
/// tensors: what they allocate on the managed heap is a few small bookkeeping objects (closures, per-call packing
/// handles), the same at batch 4 as at batch 16, and far below one activation's size. Measured on one thread
/// (Parallelism.MaxThreads = 1) so that <see cref="GC.GetAllocatedBytesForCurrentThread"/> sees every allocation.
/// </summary>
[TestClass]
public sealed class SteadyStateAllocationTests
{
    public TestContext TestContext { get; set; } = null!;

    private static (long Step, long Inference, long Activation) Measure(Network net, int batch)
    {
        var r = new Random(batch);
        var x = new Tensor(batch, net.Channels, net.Height, net.Width);
        for (int i = 0; i < x.Length; i++) x[i] = (float)(r.NextDouble() * 2 - 1);
        var labels = Enumerable.Range(0, batch).Select(i => i % net.NumClasses).ToArray();
        var adam = new Adam(net.Parameters, 1e-3);
        var loss = new SoftmaxCrossEntropy();
        void Step()
        {
            adam.ZeroGrad();
            loss.Forward(net.Forward(x, training: true), labels);
            net.Backward(loss.Backward());
            adam.Step();
        }
        for (int i = 0; i < 3; i++) Step();
        long before = GC.GetAllocatedBytesForCurrentThread();
        Step();
        long step = GC.GetAllocatedBytesForCurrentThread() - before;

        using var plan = net.PrepareForInference();
        for (int i = 0; i < 2; i++) net.Forward(x, training: false);
        before = GC.GetAllocatedBytesForCurrentThread();
        net.Forward(x, training: false);
        long inference = GC.GetAllocatedBytesForCurrentThread() - before;
        // The first convolution's output: the smallest of the large activations.
        long activation = 4L * batch * net.Root.Layers[0].OutputShape(net.InputShape(1))[1] * net.Height * net.Width;
        return (step, inference, activation);
    }

    [TestMethod]
    public void TrainingStepAndPlannedInferenceAllocateNoTensors()
    {
        int saved = Parallelism.MaxThreads;
        try
        {
            Parallelism.MaxThreads = 1;
            var small = Measure(Architectures.ResNet(3, 16, 16, 10, seed: 1), batch: 4);
            var large = Measure(Architectures.ResNet(3, 16, 16, 10, seed: 1), batch: 16);
            TestContext.WriteLine($"ResNet-8 16x16x3: bytes allocated per training step {small.Step:N0} (batch 4) / {large.Step:N0} (batch 16); " +
                $"per planned inference forward {small.Inference:N0} / {large.Inference:N0}; first activation {small.Activation:N0} / {large.Activation:N0} bytes");
            foreach (var (m, batch) in new[] { (small, 4), (large, 16) })
            {
                Assert.IsLessThan(m.Activation / 4, m.Step, $"batch {batch}: a training step allocates {m.Step:N0} bytes");
                Assert.IsLessThan(m.Activation / 4, m.Inference, $"batch {batch}: a planned inference forward allocates {m.Inference:N0} bytes");
            }
            // Bookkeeping only: it does not grow with the batch (4x the data, at most 1.5x the bytes).
            Assert.IsLessThanOrEqualTo(small.Step * 3 / 2, large.Step, "training-step allocations grow with the batch");
            Assert.IsLessThanOrEqualTo(small.Inference * 3 / 2, large.Inference, "inference allocations grow with the batch");
        }
        finally { Parallelism.MaxThreads = saved; }
    }
}
