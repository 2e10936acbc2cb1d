using System.Runtime.InteropServices;

namespace MLConv.Training.Distributed;

/// <summary>
/// The system MPI library, bound at run time: the entry points MLConv calls (as unmanaged function pointers taken with
/// <see cref="NativeLibrary.GetExport"/>) and the predefined handles of its ABI. MPI fixes the C API but not the ABI:
/// in Open MPI the handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, …) are addresses of exported objects
/// (<c>ompi_mpi_comm_world</c>, …) and MPI_IN_PLACE is (void*)1; in MPICH they are integer constants and MPI_IN_PLACE is
/// (void*)−1. <see cref="MpiAbi"/> holds one library's values; Open MPI's is read here, and another implementation is
/// one more factory beside <see cref="MpiAbi.OpenMpi"/> (the functions and their signatures are the standard's).
/// </summary>
internal sealed unsafe class MpiLibrary
{
    /// <summary>Library names tried in order when none is given: Open MPI 3–5's soname, then the development link.</summary>
    public static readonly string[] DefaultNames = ["libmpi.so.40", "libmpi.so"];

    /// <summary>Environment variable naming the library to load (a path or a soname), before <see cref="DefaultNames"/>.</summary>
    public const string LibraryVariable = "MLCONV_MPI_LIBRARY";

    private const int RtldNow = 2, RtldGlobal = 0x100;

    public readonly string Name;
    public readonly MpiAbi Abi;
    public readonly delegate* unmanaged<int*, int> Initialized, Finalized;
    public readonly delegate* unmanaged<int*, nint*, int, int*, int> InitThread;
    public readonly delegate* unmanaged<int> FinalizeFn;
    public readonly delegate* unmanaged<nint, int*, int> CommRank, CommSize;
    public readonly delegate* unmanaged<nint, nint, int> CommSetErrhandler;
    public readonly delegate* unmanaged<nint, int> Barrier;
    public readonly delegate* unmanaged<void*, int, nint, int, nint, int> Bcast;
    public readonly delegate* unmanaged<void*, void*, int, nint, nint, nint, int> Allreduce;
    public readonly delegate* unmanaged<void*, void*, int, nint, nint, nint, nint*, int> Iallreduce;
    public readonly delegate* unmanaged<void*, int, nint, void*, int, nint, nint, int> Allgather;
    public readonly delegate* unmanaged<void*, int, nint, void*, int, nint, nint, nint*, int> Iallgather;
    public readonly delegate* unmanaged<void*, int, nint, int, int, void*, int, nint, int, int, nint, void*, int> Sendrecv;
    public readonly delegate* unmanaged<nint*, void*, int> Wait;
    public readonly delegate* unmanaged<nint*, int*, void*, int> Test;
    public readonly delegate* unmanaged<nint, int, int> Abort;
    public readonly delegate* unmanaged<int, byte*, int*, int> ErrorString;

    private MpiLibrary(string name, nint handle)
    {
        Name = name;
        Abi = MpiAbi.Detect(name, handle);
        nint F(string symbol) => NativeLibrary.TryGetExport(handle, symbol, out var f) ? f
            : throw new MpiException($"The MPI library '{name}' does not export {symbol}; it is not an MPI-3 library.");
        Initialized = (delegate* unmanaged<int*, int>)F("MPI_Initialized");
        Finalized = (delegate* unmanaged<int*, int>)F("MPI_Finalized");
        InitThread = (delegate* unmanaged<int*, nint*, int, int*, int>)F("MPI_Init_thread");
        FinalizeFn = (delegate* unmanaged<int>)F("MPI_Finalize");
        CommRank = (delegate* unmanaged<nint, int*, int>)F("MPI_Comm_rank");
        CommSize = (delegate* unmanaged<nint, int*, int>)F("MPI_Comm_size");
        CommSetErrhandler = (delegate* unmanaged<nint, nint, int>)F("MPI_Comm_set_errhandler");
        Barrier = (delegate* unmanaged<nint, int>)F("MPI_Barrier");
        Bcast = (delegate* unmanaged<void*, int, nint, int, nint, int>)F("MPI_Bcast");
        Allreduce = (delegate* unmanaged<void*, void*, int, nint, nint, nint, int>)F("MPI_Allreduce");
        Iallreduce = (delegate* unmanaged<void*, void*, int, nint, nint, nint, nint*, int>)F("MPI_Iallreduce");
        Allgather = (delegate* unmanaged<void*, int, nint, void*, int, nint, nint, int>)F("MPI_Allgather");
        Iallgather = (delegate* unmanaged<void*, int, nint, void*, int, nint, nint, nint*, int>)F("MPI_Iallgather");
        Sendrecv = (delegate* unmanaged<void*, int, nint, int, int, void*, int, nint, int, int, nint, void*, int>)F("MPI_Sendrecv");
        Wait = (delegate* unmanaged<nint*, void*, int>)F("MPI_Wait");
        Test = (delegate* unmanaged<nint*, int*, void*, int>)F("MPI_Test");
        Abort = (delegate* unmanaged<nint, int, int>)F("MPI_Abort");
        ErrorString = (delegate* unmanaged<int, byte*, int*, int>)F("MPI_Error_string");
    }

    /// <summary>
    /// Loads <paramref name="name"/> (or <see cref="LibraryVariable"/>, or the first of <see cref="DefaultNames"/> found)
    /// with RTLD_GLOBAL — Open MPI's plugins resolve their symbols against it — and binds it; throws
    /// <see cref="MpiException"/> naming what was tried and the package to install.
    /// </summary>
    public static MpiLibrary Load(string? name = null)
    {
        string? chosen = name ?? Environment.GetEnvironmentVariable(LibraryVariable);
        string[] candidates = string.IsNullOrEmpty(chosen) ? DefaultNames : [chosen];
        var errors = new List<string>();
        foreach (var candidate in candidates)
        {
            nint handle = Open(candidate, out string? error);
            if (handle != 0) return new MpiLibrary(candidate, handle);
            errors.Add($"{candidate}: {error}");
        }
        throw new MpiException(
            $"No MPI library could be loaded ({string.Join("; ", errors)}). Install Open MPI (Debian/Ubuntu: " +
            $"apt-get install openmpi-bin libopenmpi-dev) or set {LibraryVariable} to the path of libmpi.so.");
    }

    private static nint Open(string name, out string? error)
    {
        error = null;
        if (OperatingSystem.IsLinux())
        {
            try
            {
                nint h = Native.dlopen(name, RtldNow | RtldGlobal);
                if (h != 0) return h;
                nint e = Native.dlerror();
                error = e == 0 ? "not found" : Marshal.PtrToStringUTF8(e);
                return 0;
            }
            catch (DllNotFoundException) { /* no libc.so.6 (musl): fall back */ }
            catch (EntryPointNotFoundException) { }
        }
        if (NativeLibrary.TryLoad(name, out var handle)) return handle;
        error ??= "not found";
        return 0;
    }

    /// <summary>Throws <see cref="MpiException"/> naming <paramref name="function"/> and MPI's own message when <paramref name="code"/> is not MPI_SUCCESS.</summary>
    public void Check(int code, string function)
    {
        if (code == 0) return;
        var text = stackalloc byte[512];  // MPI_MAX_ERROR_STRING is 256 in Open MPI, 1024 in MPICH: the call writes at most its own
        int length = 0;
        string message = ErrorString(code, text, &length) == 0 && length > 0 && length < 512
            ? System.Text.Encoding.UTF8.GetString(text, length) : "unknown error";
        throw new MpiException($"{function} failed with MPI error {code}: {message}.");
    }

    private static class Native
    {
        [DllImport("libc.so.6", CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
        public static extern nint dlopen(string file, int mode);

        [DllImport("libc.so.6")]
        public static extern nint dlerror();
    }
}
