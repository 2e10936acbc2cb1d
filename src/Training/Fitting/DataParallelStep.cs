using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using MLConv.Training.Distributed;
using MLConv.Training.Layers;
using MLConv.Training.Losses;
using MLConv.Training.Models;
using MLConv.Training.Tensors;

namespace MLConv.Training.Fitting;

/// <summary>
/// One batch's gradient as the ordered sum of fixed micro-shards (<see cref="TrainerOptions.GradientShards"/>), shared
/// out among the ranks of a communicator so that the result does not depend on how many ranks there are.
/// <para>
/// Why an ordered sum: float addition is not associative, so the batch gradient is bit-reproducible only if its terms are
/// added in one fixed order whatever the rank count. The shards' boundaries depend on the batch and the shard count
/// only; shard s goes to rank s mod K; each rank computes each of its shards' gradient alone (zeroed gradients, its own
/// forward and backward) into a slot, and the slots are all-gathered (shard j·K … j·K + K − 1 in the j-th gather, started
/// without waiting while the rank computes its next shard); then every rank adds the M slots in shard order,
/// g = ((g₀ + g₁) + g₂) + …, the same additions a single process with the same shard count makes. MPI_Allreduce is not
/// used for this: MPI leaves the order of its additions to the library (it may depend on K, the algorithm and message
/// size). The price is traffic: each rank receives (K − 1)·(M/K) slots of the parameter count per step instead of a ring
/// all-reduce's 2(K − 1)/K.
/// </para>
/// A slot is [trainable gradients | buffer changes | loss | correct]: the buffers (batch-norm running statistics) start
/// every shard from the step's starting values and end at those plus the mean of the shards' changes; loss and correct
/// count travel so that every rank reports the same epoch metrics.
/// </summary>
internal sealed class DataParallelStep
{
    private readonly Network _network;
    private readonly Parameter[] _parameters;
    private readonly Tensor[] _buffers;
    private readonly ICommunicator _comm;
    private readonly int _shards, _localShards, _parameterCount, _bufferCount, _slot, _sample;
    private readonly float[] _mine, _all, _snapshot;
    private readonly IPendingOperation[] _pending;
    private readonly SoftmaxCrossEntropy _loss = new();
    private Tensor? _x;

    public DataParallelStep(Network network, IEnumerable<Parameter> trainable, ICommunicator comm, int shards)
    {
        _network = network;
        _parameters = [.. trainable];
        _buffers = [.. network.Root.NamedBuffers().Select(b => b.Value)];
        _comm = comm;
        _shards = shards;
        _localShards = shards / comm.Size;
        _parameterCount = _parameters.Sum(p => p.Value.Length);
        _bufferCount = _buffers.Sum(b => b.Length);
        _slot = _parameterCount + _bufferCount + 2;
        _sample = network.Channels * network.Height * network.Width;
        _mine = new float[_localShards * _slot];
        _all = new float[shards * _slot];
        _snapshot = new float[_bufferCount];
        _pending = new IPendingOperation[_localShards];
    }

    /// <summary>Seconds spent waiting for the gathers and adding the slots (the step's communication share).</summary>
    public double ReduceSeconds { get; private set; }

    /// <summary>
    /// Computes this rank's shards of the batch <paramref name="x"/> (normalised, every rank holding the whole batch),
    /// gathers every shard, and leaves the batch's gradient in the parameters' <see cref="Parameter.Grad"/> and the
    /// updated buffers in the network. <paramref name="reseed"/>(s) restarts layer randomness for shard s.
    /// Returns the batch's mean loss and correct count (the same on every rank).
    /// </summary>
    public (double Loss, long Correct) Compute(Tensor x, ReadOnlySpan<int> labels, Action<int> reseed)
    {
        int count = x.N, k = _comm.Size, rank = _comm.Rank;
        Copy(_buffers, _snapshot);
        for (int j = 0; j < _localShards; j++)
        {
            int s = j * k + rank;
            var (lo, n) = Bounds(s, count);
            var slot = _mine.AsSpan(j * _slot, _slot);
            if (n == 0) slot.Clear();
            else
            {
                Restore(_snapshot, _buffers);
                foreach (var p in _parameters) p.Grad.Clear();
                reseed(s);
                var xs = Tensor.Reuse(ref _x, n, _network.Channels, _network.Height, _network.Width);
                x.Span.Slice(lo * _sample, n * _sample).CopyTo(xs.Span);
                var shardLabels = labels.Slice(lo, n);
                var logits = _network.Forward(xs, true);
                float loss = _loss.Forward(logits, shardLabels, count);
                _network.Backward(_loss.Backward());
                int o = 0;
                foreach (var p in _parameters) { p.Grad.Span.CopyTo(slot[o..]); o += p.Value.Length; }
                foreach (var b in _buffers) { TensorPrimitives.Subtract(b.Span, _snapshot.AsSpan(o - _parameterCount, b.Length), slot.Slice(o, b.Length)); o += b.Length; }
                slot[o] = loss;
                slot[o + 1] = Trainer.CountCorrect(logits, shardLabels);
            }
            _pending[j] = _comm.StartAllGather(_mine.AsMemory(j * _slot, _slot), _all.AsMemory(j * k * _slot, k * _slot));
        }

        var clock = System.Diagnostics.Stopwatch.StartNew();
        foreach (var p in _pending) p.Wait();
        var result = Reduce(count);
        ReduceSeconds += clock.Elapsed.TotalSeconds;
        return result;
    }

    /// <summary>Shard s of a batch of <paramref name="count"/>: its first example and size (sizes differ by at most one).</summary>
    public (int Start, int Count) Bounds(int s, int count)
    {
        int lo = (int)((long)s * count / _shards), hi = (int)((long)(s + 1) * count / _shards);
        return (lo, hi - lo);
    }

    /// <summary>The gathered slots added in shard order into the gradients, the buffers, the loss and the correct count.</summary>
    private (double Loss, long Correct) Reduce(int count)
    {
        int o = 0;
        foreach (var p in _parameters)
        {
            var g = p.Grad.Span;
            _all.AsSpan(o, g.Length).CopyTo(g);
            for (int s = 1; s < _shards; s++) TensorPrimitives.Add(g, _all.AsSpan(s * _slot + o, g.Length), g);
            o += g.Length;
        }
        int nonEmpty = Math.Min(_shards, count);  // shards hold ⌊…⌋ bounds: exactly min(S, n) are non-empty
        foreach (var b in _buffers)
        {
            var v = b.Span;
            var sum = _all.AsSpan(o, v.Length);  // shard 0's slot, summed into in place: it is not read again
            for (int s = 1; s < _shards; s++) TensorPrimitives.Add(sum, _all.AsSpan(s * _slot + o, v.Length), sum);
            TensorPrimitives.Multiply(sum, 1f / nonEmpty, sum);
            TensorPrimitives.Add(_snapshot.AsSpan(o - _parameterCount, v.Length), sum, v);
            o += v.Length;
        }
        double loss = 0;
        long correct = 0;
        for (int s = 0; s < _shards; s++)
        {
            loss += _all[s * _slot + o];
            correct += (long)_all[s * _slot + o + 1];
        }
        return (loss, correct);
    }

    private static void Copy(Tensor[] from, float[] to)
    {
        int o = 0;
        foreach (var t in from) { t.Span.CopyTo(to.AsSpan(o)); o += t.Length; }
    }

    private static void Restore(float[] from, Tensor[] to)
    {
        int o = 0;
        foreach (var t in to) { from.AsSpan(o, t.Length).CopyTo(t.Span); o += t.Length; }
    }
}
