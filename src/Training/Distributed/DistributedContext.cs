namespace MLConv.Training.Distributed;

/// <summary>
/// Where this process stands in a data-parallel job: its <see cref="Communicator"/>, rank and size. An application
/// wires distribution in one line — <c>options.Communicator = DistributedContext.FromEnvironment()?.Communicator;</c> —
/// and writes its outputs only when <see cref="IsRoot"/>. Disposing finalises MPI.
/// </summary>
public sealed class DistributedContext : IDisposable
{
    /// <summary>A context over <paramref name="communicator"/>; disposing it disposes the communicator when that is disposable.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="communicator"/> is null.</exception>
    public DistributedContext(ICommunicator communicator)
    {
        ArgumentNullException.ThrowIfNull(communicator);
        Communicator = communicator;
    }

    /// <summary>The group's collectives (for <c>TrainerOptions.Communicator</c>).</summary>
    public ICommunicator Communicator { get; }
    /// <summary>This process's rank, 0-based.</summary>
    public int Rank => Communicator.Rank;
    /// <summary>The number of processes.</summary>
    public int Size => Communicator.Size;

    /// <summary>Rank 0: the process that writes checkpoints, the model and reports.</summary>
    public bool IsRoot => Communicator.Rank == 0;

    /// <summary>
    /// Kernel threads for each rank so that the ranks on one machine share its cores rather than oversubscribe them:
    /// the processor count (as this process's affinity allows) over the launcher's ranks per machine (<see cref="MpiLauncher.LocalSize"/>).
    /// For <c>Parallelism.MaxThreads</c>.
    /// </summary>
    public static int SuggestedThreads(Func<string, string?>? environment = null) =>
        Math.Max(1, Environment.ProcessorCount / (MpiLauncher.LocalSize(environment) ?? 1));

    /// <summary>A context of one process (no MPI).</summary>
    public static DistributedContext Single { get; } = new(SingleProcessCommunicator.Instance);

    /// <summary>
    /// The MPI context when an MPI launcher (<c>mpirun</c>, <c>mpiexec</c>, <c>srun</c>) started this process, else null:
    /// a plain process needs no MPI library at all. Throws <see cref="MpiException"/> when a launcher started it but MPI
    /// cannot be loaded or initialised.
    /// </summary>
    public static DistributedContext? FromEnvironment(Func<string, string?>? environment = null) =>
        MpiLauncher.Detect(environment) is null ? null : new DistributedContext(MpiCommunicator.Initialize(environment: environment));

    /// <summary>Finalises MPI when the communicator is MPI's (every rank, after its last collective).</summary>
    public void Dispose() => (Communicator as IDisposable)?.Dispose();

    /// <summary>"rank r of n", with the MPI library for an MPI communicator.</summary>
    public override string ToString() => Communicator is MpiCommunicator mpi
        ? $"rank {Rank} of {Size} over {mpi.Library}" : $"rank {Rank} of {Size}";
}
