using MLConv.Training.Distributed;
using MLConv.Training.Layers;
using MLConv.Training.Losses;
using MLConv.Training.Models;
using MLConv.Training.Tensors;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace MLConv.Training.Fitting;

/// <summary>
/// One batch's gradient as a fixed-order sum over fixed micro-shards (<see cref="TrainerOptions.GradientShards"/>), shared
/// out among the ranks of a communicator so that the result does not depend on how many ranks there are.
/// <para>
/// Why a fixed order: float addition is not associative, so the batch gradient is bit-reproducible only if its terms are
/// added in one order whatever the rank count. The shards' boundaries depend on the batch and the shard count S only; each
/// shard's gradient is computed alone (zeroed gradients, its own forward and backward) into a slot; the S slots are added
/// as a balanced binary tree, T(lo, hi) = T(lo, mid) + T(mid, hi) with mid = ⌊(lo + hi)/2⌋. Rank r of K owns the
/// contiguous shards [r·S/K, (r+1)·S/K), and when K is a power of two those blocks are subtrees of T: each rank adds its
/// own block, then the ranks combine blocks by recursive halving — partners r and r xor d for d = 1, 2, 4, …, each keeping
/// half of the vector it holds and adding the partner's half, exactly the tree's next level (a + b = b + a in floats, so
/// both partners agree) — and gather the reduced parts back by recursive doubling: 2(K − 1)/K of the slot in and out of
/// each rank, a ring all-reduce's traffic. For other K every rank all-gathers every slot and adds the whole tree itself
/// ((K − 1)·S/K slots in). A single process adds the same tree. MPI_Allreduce is not used: MPI leaves the order of its
/// additions to the library (it may depend on K, the algorithm and the message size).
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
    private readonly float[] _local, _snapshot, _received;
    private readonly float[]? _gathered;
    private readonly SoftmaxCrossEntropy _loss = new();
    private readonly Stack<(int Lo, int Hi)> _kept = new();
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
        _local = new float[_localShards * _slot];
        _snapshot = new float[_bufferCount];
        _received = new float[IsPowerOfTwo(comm.Size) ? (_slot + 1) / 2 : 0];
        _gathered = IsPowerOfTwo(comm.Size) ? null : new float[shards * _slot];
    }

    /// <summary>Seconds spent combining the shards across ranks and adding them (the step's communication share, waits included).</summary>
    public double ReduceSeconds { get; private set; }

    /// <summary>
    /// Computes this rank's shards of the batch <paramref name="x"/> (normalised, every rank holding the whole batch),
    /// combines every shard, and leaves the batch's gradient in the parameters' <see cref="Parameter.Grad"/> and the
    /// updated buffers in the network. <paramref name="reseed"/>(s) restarts layer randomness for shard s.
    /// Returns the batch's mean loss and correct count (the same on every rank).
    /// </summary>
    public (double Loss, long Correct) Compute(Tensor x, ReadOnlySpan<int> labels, Action<int> reseed)
    {
        int count = x.N, first = _comm.Rank * _localShards;
        Copy(_buffers, _snapshot);
        for (int j = 0; j < _localShards; j++)
        {
            int s = first + j;
            var (lo, n) = Bounds(s, count);
            var slot = _local.AsSpan(j * _slot, _slot);
            if (n == 0) { slot.Clear(); continue; }
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

        var clock = System.Diagnostics.Stopwatch.StartNew();
        Span<float> sum;
        if (_gathered is null)
        {
            TreeSum(_local, 0, _localShards);   // this rank's block: a subtree of the shards' tree
            sum = _local.AsSpan(0, _slot);
            AcrossRanks(sum);
        }
        else
        {
            _comm.AllGather(_local, _gathered);
            TreeSum(_gathered, 0, _shards);
            sum = _gathered.AsSpan(0, _slot);
        }
        var result = Apply(sum, count);
        ReduceSeconds += clock.Elapsed.TotalSeconds;
        return result;
    }

    /// <summary>Shard s of a batch of <paramref name="count"/>: its first example and size (sizes differ by at most one).</summary>
    public (int Start, int Count) Bounds(int s, int count)
    {
        int lo = (int)((long)s * count / _shards), hi = (int)((long)(s + 1) * count / _shards);
        return (lo, hi - lo);
    }

    /// <summary>Slots [lo, hi) of <paramref name="slots"/> added as the balanced tree T(lo, hi), into slot lo.</summary>
    private void TreeSum(float[] slots, int lo, int hi)
    {
        if (hi - lo < 2) return;
        int mid = (lo + hi) / 2;
        TreeSum(slots, lo, mid);
        TreeSum(slots, mid, hi);
        var a = slots.AsSpan(lo * _slot, _slot);
        TensorPrimitives.Add(a, slots.AsSpan(mid * _slot, _slot), a);
    }

    /// <summary>
    /// Every rank's <paramref name="v"/> (its block's sum) becomes the sum of all blocks as the tree adds them: recursive
    /// halving with partners at distance 1, 2, 4, … (the tree's levels above the blocks), then recursive doubling back.
    /// </summary>
    private void AcrossRanks(Span<float> v)
    {
        int rank = _comm.Rank, lo = 0, hi = v.Length;
        for (int d = 1; d < _comm.Size; d <<= 1)
        {
            int partner = rank ^ d, mid = (lo + hi) / 2;
            bool lower = (rank & d) == 0;
            var (keepLo, keepHi, sendLo, sendHi) = lower ? (lo, mid, mid, hi) : (mid, hi, lo, mid);
            var theirs = _received.AsSpan(0, keepHi - keepLo);
            _comm.SendReceive(v[sendLo..sendHi], partner, theirs, partner);
            var mine = v[keepLo..keepHi];
            TensorPrimitives.Add(mine, theirs, mine);
            _kept.Push((lo, hi));
            (lo, hi) = (keepLo, keepHi);
        }
        for (int d = _comm.Size >> 1; d >= 1; d >>= 1)
        {
            var (outerLo, outerHi) = _kept.Pop();
            int partner = rank ^ d;
            var (otherLo, otherHi) = (rank & d) == 0 ? (hi, outerHi) : (outerLo, lo);  // the halving step's kept and sent parts
            _comm.SendReceive(v[lo..hi], partner, v[otherLo..otherHi], partner);
            (lo, hi) = (outerLo, outerHi);
        }
    }

    /// <summary>The reduced slot into the gradients and the buffers; the batch's loss and correct count.</summary>
    private (double Loss, long Correct) Apply(Span<float> sum, int count)
    {
        int o = 0;
        foreach (var p in _parameters) { sum.Slice(o, p.Value.Length).CopyTo(p.Grad.Span); o += p.Value.Length; }
        int nonEmpty = Math.Min(_shards, count);  // shards hold ⌊…⌋ bounds: exactly min(S, n) are non-empty
        foreach (var b in _buffers)
        {
            var change = sum.Slice(o, b.Length);
            TensorPrimitives.Multiply(change, 1f / nonEmpty, change);
            TensorPrimitives.Add(_snapshot.AsSpan(o - _parameterCount, b.Length), change, b.Span);
            o += b.Length;
        }
        return (sum[o], (long)sum[o + 1]);
    }

    private static bool IsPowerOfTwo(int k) => (k & (k - 1)) == 0;

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
