namespace MLConv.Training.Distributed;

/// <summary>
/// The collective operations data-parallel training needs, over a fixed group of processes ("ranks") numbered
/// 0 … <see cref="Size"/> − 1. Every rank calls the same collectives in the same order with buffers of the same length
/// (the MPI rule); a rank that calls a different sequence hangs the group. <see cref="SingleProcessCommunicator"/> is the
/// group of one (no MPI anywhere); <see cref="MpiCommunicator"/> runs over the system's MPI library. The trainer sees only
/// this interface.
/// </summary>
public interface ICommunicator
{
    /// <summary>This process's index in the group, 0-based; rank 0 writes checkpoints and the final model.</summary>
    int Rank { get; }

    /// <summary>Number of processes in the group.</summary>
    int Size { get; }

    /// <summary>Returns when every rank has called it.</summary>
    void Barrier();

    /// <summary>Every rank's <paramref name="data"/> becomes rank <paramref name="root"/>'s.</summary>
    void Broadcast(Span<float> data, int root);

    /// <summary>
    /// Element-wise sum over ranks, in place, on every rank. The order in which MPI adds the ranks' values is the
    /// library's choice (not fixed), so the result may differ in the last bits from a sum in rank order; the trainer's
    /// bit-exact reduction uses <see cref="AllGather"/> instead.
    /// </summary>
    void AllReduceSum(Span<float> data);

    /// <summary>Starts <see cref="AllReduceSum"/> without waiting; <paramref name="data"/> stays pinned and must not be touched until the operation completes.</summary>
    IPendingOperation StartAllReduceSum(Memory<float> data);

    /// <summary>
    /// Concatenates every rank's <paramref name="mine"/> (all the same length) in rank order into <paramref name="all"/>
    /// (length Size × mine.Length) on every rank.
    /// </summary>
    void AllGather(ReadOnlySpan<float> mine, Span<float> all);

    /// <summary>Starts <see cref="AllGather"/> without waiting; both buffers stay pinned and must not be touched until the operation completes.</summary>
    IPendingOperation StartAllGather(ReadOnlyMemory<float> mine, Memory<float> all);

    /// <summary>
    /// Sends <paramref name="send"/> to rank <paramref name="destination"/> and receives <paramref name="receive"/> (its exact
    /// length) from rank <paramref name="source"/>, together (MPI_Sendrecv: pairs of ranks exchanging cannot deadlock).
    /// </summary>
    void SendReceive(ReadOnlySpan<float> send, int destination, Span<float> receive, int source);

    /// <summary>
    /// Ends the whole job because this rank failed: writes <paramref name="message"/> to standard error with the rank,
    /// then terminates every rank (MPI_Abort) so that none waits forever in a collective. Does not return in a group of
    /// more than one; in a group of one it does nothing (the caller's exception ends the run).
    /// </summary>
    void Abort(string message, int errorCode = 1);
}

/// <summary>A collective started by <c>Start…</c>: <see cref="Wait"/> completes it (and unpins its buffers).</summary>
public interface IPendingOperation
{
    /// <summary>True once the operation has completed (drives MPI's progress; non-blocking).</summary>
    bool Test();

    /// <summary>Blocks until the operation has completed; may be called again after completion.</summary>
    void Wait();
}
