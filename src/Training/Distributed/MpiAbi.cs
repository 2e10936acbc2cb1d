using System.Runtime.InteropServices;

namespace MLConv.Training.Distributed;

/// <summary>An MPI implementation's predefined handles, as passed to its functions.</summary>
internal sealed record MpiAbi(string Implementation, nint CommWorld, nint Float, nint Sum, nint ErrorsReturn, nint InPlace, nint StatusIgnore)
{
    /// <summary>MPI_THREAD_SERIALIZED: calls may come from any thread, one at a time (the same value in Open MPI and MPICH).</summary>
    public const int ThreadSerialized = 2;

    public static MpiAbi Detect(string name, nint handle) =>
        NativeLibrary.TryGetExport(handle, "ompi_mpi_comm_world", out _) ? OpenMpi(handle)
        : throw new MpiException(
            $"'{name}' is not Open MPI (it exports no ompi_mpi_comm_world). MLConv binds Open MPI's ABI only; MPICH and its " +
            "derivatives define MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM as integer constants — add them as a second MpiAbi factory.");

    /// <summary>Open MPI 3–5: handles are the addresses of exported predefined objects; MPI_IN_PLACE is 1, MPI_STATUS_IGNORE null.</summary>
    public static MpiAbi OpenMpi(nint handle)
    {
        nint Object(string symbol) => NativeLibrary.GetExport(handle, symbol);
        return new MpiAbi("Open MPI", Object("ompi_mpi_comm_world"), Object("ompi_mpi_float"), Object("ompi_mpi_op_sum"),
            Object("ompi_mpi_errors_return"), InPlace: 1, StatusIgnore: 0);
    }
}
