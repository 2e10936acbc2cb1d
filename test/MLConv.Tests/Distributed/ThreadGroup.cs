using MLConv.Training.Distributed;

namespace MLConv.Tests.Distributed;

/// <summary>
/// A group of K in-process "ranks" (one thread each) behind <see cref="ICommunicator"/>, for tests that need several ranks
/// without MPI: collectives meet at a <see cref="Barrier"/> and exchange through a shared buffer.
/// <see cref="Run"/> starts the ranks and rethrows the first failure.
/// </summary>
internal sealed class ThreadGroup
{
    private readonly Barrier _barrier;
    private float[] _shared = [];
    private float[][] _posted = [];

    private ThreadGroup(int size)
    {
        Size = size;
        _barrier = new Barrier(size);
    }

    public int Size { get; }

    /// <summary>Runs body(communicator) on <paramref name="size"/> threads, one per rank; returns each rank's result.</summary>
    public static T[] Run<T>(int size, Func<ICommunicator, T> body)
    {
        var group = new ThreadGroup(size);
        var results = new T[size];
        var errors = new Exception?[size];
        var threads = Enumerable.Range(0, size).Select(r => new Thread(() =>
        {
            try { results[r] = body(new Member(group, r)); }
            catch (Exception e) { errors[r] = e; group._barrier.RemoveParticipant(); }
        }, 16 << 20)).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        if (errors.FirstOrDefault(e => e is not null) is { } first) throw new AggregateException(first);
        return results;
    }

    private sealed class Member(ThreadGroup g, int rank) : ICommunicator
    {
        public int Rank => rank;
        public int Size => g.Size;

        public void Barrier() => g._barrier.SignalAndWait();

        public void Broadcast(Span<float> data, int root)
        {
            if (rank == root) g._shared = data.ToArray();
            g._barrier.SignalAndWait();
            g._shared.AsSpan(0, data.Length).CopyTo(data);
            g._barrier.SignalAndWait();
        }

        public void AllReduceSum(Span<float> data)
        {
            var all = new float[data.Length * Size];
            AllGather(data, all);
            data.Clear();
            for (int r = 0; r < Size; r++)
                for (int i = 0; i < data.Length; i++) data[i] += all[r * data.Length + i];
        }

        public IPendingOperation StartAllReduceSum(Memory<float> data)
        {
            AllReduceSum(data.Span);
            return Done.Instance;
        }

        public void AllGather(ReadOnlySpan<float> mine, Span<float> all)
        {
            if (rank == 0) g._shared = new float[mine.Length * Size];
            g._barrier.SignalAndWait();
            mine.CopyTo(g._shared.AsSpan(rank * mine.Length));
            g._barrier.SignalAndWait();
            g._shared.AsSpan(0, all.Length).CopyTo(all);
            g._barrier.SignalAndWait();
        }

        public IPendingOperation StartAllGather(ReadOnlyMemory<float> mine, Memory<float> all)
        {
            AllGather(mine.Span, all.Span);
            return Done.Instance;
        }

        public void SendReceive(ReadOnlySpan<float> send, int destination, Span<float> receive, int source)
        {
            // Every rank of the group exchanges in the same step here (the trainer's pairwise steps): post, meet, read, meet.
            if (rank == 0) g._posted = new float[Size][];
            g._barrier.SignalAndWait();
            g._posted[rank] = send.ToArray();
            g._barrier.SignalAndWait();
            var from = g._posted[source];
            if (from.Length != receive.Length) throw new ArgumentException($"rank {source} sent {from.Length} values; {receive.Length} expected.");
            from.CopyTo(receive);
            g._barrier.SignalAndWait();
        }

        public void Abort(string message, int errorCode = 1) { }
    }

    private sealed class Done : IPendingOperation
    {
        public static readonly Done Instance = new();
        public bool Test() => true;
        public void Wait() { }
    }
}
