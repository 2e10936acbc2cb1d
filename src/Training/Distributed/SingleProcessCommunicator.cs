namespace MLConv.Training.Distributed;

/// <summary>The group of one process: every collective is a copy or nothing. Needs no MPI.</summary>
public sealed class SingleProcessCommunicator : ICommunicator
{
    /// <summary>The one instance (the communicator is stateless).</summary>
    public static SingleProcessCommunicator Instance { get; } = new();

    /// <inheritdoc/>
    public int Rank => 0;
    /// <inheritdoc/>
    public int Size => 1;

    /// <inheritdoc/>
    public void Barrier() { }

    /// <inheritdoc/>
    public void Broadcast(Span<float> data, int root) => CheckRoot(root);

    /// <inheritdoc/>
    public void AllReduceSum(Span<float> data) { }

    /// <inheritdoc/>
    public IPendingOperation StartAllReduceSum(Memory<float> data) => Completed.Instance;

    /// <inheritdoc/>
    public void AllGather(ReadOnlySpan<float> mine, Span<float> all)
    {
        if (all.Length != mine.Length)
            throw new ArgumentException($"all must hold Size × mine.Length = {mine.Length} values; it holds {all.Length}.", nameof(all));
        mine.CopyTo(all);
    }

    /// <inheritdoc/>
    public IPendingOperation StartAllGather(ReadOnlyMemory<float> mine, Memory<float> all)
    {
        AllGather(mine.Span, all.Span);
        return Completed.Instance;
    }

    /// <inheritdoc/>
    public void SendReceive(ReadOnlySpan<float> send, int destination, Span<float> receive, int source)
    {
        CheckRoot(destination);
        CheckRoot(source);
        if (send.Length != receive.Length)
            throw new ArgumentException($"A process sending to itself receives what it sends: receive must hold {send.Length} values; it holds {receive.Length}.", nameof(receive));
        send.CopyTo(receive);
    }

    /// <inheritdoc/>
    public void Abort(string message, int errorCode = 1) { }

    private static void CheckRoot(int rank, [System.Runtime.CompilerServices.CallerArgumentExpression(nameof(rank))] string name = "")
    {
        if (rank != 0) throw new ArgumentOutOfRangeException(name, rank, $"{name} must be a rank in [0, 0] (a single process).");
    }

    private sealed class Completed : IPendingOperation
    {
        public static readonly Completed Instance = new();
        public bool Test() => true;
        public void Wait() { }
    }
}
