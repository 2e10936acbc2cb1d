namespace MLConv.Training.Distributed;

/// <summary>
/// Recognises a process started by an MPI launcher from the environment it sets: Open MPI's <c>mpirun</c>
/// (OMPI_COMM_WORLD_RANK/SIZE), PMI launchers — MPICH's Hydra, Intel MPI, Slurm's <c>srun --mpi=pmi2</c> — (PMI_RANK/SIZE)
/// and PMIx launchers such as <c>srun --mpi=pmix</c> (PMIX_RANK; the size comes from MPI itself).
/// </summary>
public static class MpiLauncher
{
    /// <summary>The variables looked at, in order: each pair is (rank variable, size variable or null).</summary>
    public static readonly IReadOnlyList<(string Rank, string? Size)> Variables =
        [("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"), ("PMI_RANK", "PMI_SIZE"), ("PMIX_RANK", null)];

    /// <summary>The launcher's rank and size (size null when the launcher does not say) and the variable read, or null when no launcher started this process.</summary>
    public static (int Rank, int? Size, string Variable)? Detect(Func<string, string?>? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariable;
        foreach (var (rankVar, sizeVar) in Variables)
        {
            if (environment(rankVar) is not { Length: > 0 } rankText) continue;
            if (!int.TryParse(rankText, out int rank) || rank < 0)
                throw new MpiException($"{rankVar} is '{rankText}'; an MPI launcher sets it to the process's rank (an integer >= 0).");
            int? size = null;
            if (sizeVar is not null && environment(sizeVar) is { Length: > 0 } sizeText)
                size = int.TryParse(sizeText, out int s) && s > rank ? s
                    : throw new MpiException($"{sizeVar} is '{sizeText}'; an MPI launcher sets it to the number of processes (> {rankVar} = {rank}).");
            return (rank, size, rankVar);
        }
        return null;
    }

    /// <summary>
    /// How many ranks the launcher started on this machine (OMPI_COMM_WORLD_LOCAL_SIZE, MPICH's MPI_LOCALNRANKS), or null when
    /// it does not say.
    /// </summary>
    public static int? LocalSize(Func<string, string?>? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariable;
        foreach (var name in (string[])["OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS"])
            if (int.TryParse(environment(name), out int n) && n > 0) return n;
        return null;
    }

    /// <summary>What a process not started by a launcher is told.</summary>
    internal static string NotLaunchedMessage =>
        "This process was not started by an MPI launcher (none of " + string.Join(", ", Variables.Select(v => v.Rank)) +
        " is set). Start it with 'mpirun -np K <command>' (Open MPI), 'mpiexec' or 'srun --mpi=pmix', or train without a communicator.";
}
