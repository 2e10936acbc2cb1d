using System.Buffers;

namespace MLConv.Training.Distributed;

/// <summary>
/// <see cref="ICommunicator"/> over MPI_COMM_WORLD of the system's MPI library (<see cref="MpiLibrary"/>). One per process:
/// <see cref="Initialize"/> calls MPI_Init_thread (MPI_THREAD_SERIALIZED) once, <see cref="Dispose"/> MPI_Finalize.
/// Errors: MPI_COMM_WORLD is switched to MPI_ERRORS_RETURN so that a failed call throws <see cref="MpiException"/> with
/// MPI's message; an exception that escapes to the runtime (unhandled, on any thread) calls <see cref="Abort"/>, and so
/// does the trainer for one escaping <c>Fit</c>: a failing rank ends the job (MPI_Abort: mpirun kills the other ranks and
/// exits non-zero) instead of leaving the others waiting in a collective. A rank that dies outright is reported by
/// mpirun, which then ends the job. A rank that hangs (never reaching a collective) is what <c>mpirun --timeout S</c> is for.
/// </summary>
public sealed unsafe class MpiCommunicator : ICommunicator, IDisposable
{
    private static readonly Lock InitLock = new();
    private static MpiCommunicator? _instance;

    private readonly MpiLibrary _mpi;
    private readonly MpiAbi _abi;
    private bool _finalized;

    private MpiCommunicator(MpiLibrary mpi, int rank, int size)
    {
        (_mpi, _abi, Rank, Size) = (mpi, mpi.Abi, rank, size);
    }

    /// <inheritdoc/>
    public int Rank { get; }
    /// <inheritdoc/>
    public int Size { get; }

    /// <summary>The implementation and library bound ("Open MPI (libmpi.so.40)").</summary>
    public string Library => $"{_abi.Implementation} ({_mpi.Name})";

    /// <summary>
    /// Initialises MPI once per process and returns the world communicator (the same object on later calls).
    /// Throws <see cref="MpiException"/> when the process was not started by an MPI launcher (<see cref="MpiLauncher"/>) —
    /// a lone process would otherwise silently train alone — or when no MPI library can be loaded (<paramref name="library"/>:
    /// a path or soname; default <see cref="MpiLibrary.DefaultNames"/> or MLCONV_MPI_LIBRARY).
    /// </summary>
    public static MpiCommunicator Initialize(string? library = null, Func<string, string?>? environment = null)
    {
        lock (InitLock)
        {
            if (_instance is { _finalized: false }) return _instance;
            if (_instance is not null) throw new MpiException("MPI was finalized in this process; it cannot be initialised again.");
            var launched = MpiLauncher.Detect(environment) ?? throw new MpiException(MpiLauncher.NotLaunchedMessage);
            MpiLibrary mpi;
            try { mpi = MpiLibrary.Load(library); }
            catch (MpiException e)
            {
                throw new MpiException($"This process was started by an MPI launcher ({launched.Variable} = {launched.Rank}), but: {e.Message}", e);
            }
            int initialized = 0, provided = 0, rank = 0, size = 0;
            mpi.Check(mpi.Initialized(&initialized), "MPI_Initialized");
            if (initialized == 0) mpi.Check(mpi.InitThread(null, null, MpiAbi.ThreadSerialized, &provided), "MPI_Init_thread");
            mpi.Check(mpi.CommSetErrhandler(mpi.Abi.CommWorld, mpi.Abi.ErrorsReturn), "MPI_Comm_set_errhandler");
            mpi.Check(mpi.CommRank(mpi.Abi.CommWorld, &rank), "MPI_Comm_rank");
            mpi.Check(mpi.CommSize(mpi.Abi.CommWorld, &size), "MPI_Comm_size");
            if (launched.Size is { } expected && expected != size)
                throw new MpiException($"The launcher started {expected} processes but MPI_COMM_WORLD has {size}: this library ({mpi.Name}) is not the launcher's MPI.");
            _instance = new MpiCommunicator(mpi, rank, size);
            var world = _instance;
            AppDomain.CurrentDomain.UnhandledException += (_, e) =>
            {
                if (!world._finalized) world.Abort($"unhandled exception: {e.ExceptionObject}", 1);
            };
            return _instance;
        }
    }

    /// <inheritdoc/>
    public void Barrier() => _mpi.Check(_mpi.Barrier(_abi.CommWorld), "MPI_Barrier");

    /// <inheritdoc/>
    public void Broadcast(Span<float> data, int root)
    {
        if ((uint)root >= (uint)Size) throw new ArgumentOutOfRangeException(nameof(root), root, $"root must be a rank in [0, {Size - 1}].");
        fixed (float* p = data) _mpi.Check(_mpi.Bcast(p, data.Length, _abi.Float, root, _abi.CommWorld), "MPI_Bcast");
    }

    /// <inheritdoc/>
    public void AllReduceSum(Span<float> data)
    {
        fixed (float* p = data) _mpi.Check(_mpi.Allreduce((void*)_abi.InPlace, p, data.Length, _abi.Float, _abi.Sum, _abi.CommWorld), "MPI_Allreduce");
    }

    /// <inheritdoc/>
    public IPendingOperation StartAllReduceSum(Memory<float> data)
    {
        var pin = data.Pin();
        nint request = 0;
        try { _mpi.Check(_mpi.Iallreduce((void*)_abi.InPlace, pin.Pointer, data.Length, _abi.Float, _abi.Sum, _abi.CommWorld, &request), "MPI_Iallreduce"); }
        catch { pin.Dispose(); throw; }
        return new Pending(this, request, pin, default, "MPI_Iallreduce");
    }

    /// <inheritdoc/>
    public void AllGather(ReadOnlySpan<float> mine, Span<float> all)
    {
        CheckGather(mine.Length, all.Length);
        fixed (float* s = mine)
        fixed (float* r = all)
            _mpi.Check(_mpi.Allgather(s, mine.Length, _abi.Float, r, mine.Length, _abi.Float, _abi.CommWorld), "MPI_Allgather");
    }

    /// <inheritdoc/>
    public IPendingOperation StartAllGather(ReadOnlyMemory<float> mine, Memory<float> all)
    {
        CheckGather(mine.Length, all.Length);
        var send = mine.Pin();
        var receive = all.Pin();
        nint request = 0;
        try { _mpi.Check(_mpi.Iallgather(send.Pointer, mine.Length, _abi.Float, receive.Pointer, mine.Length, _abi.Float, _abi.CommWorld, &request), "MPI_Iallgather"); }
        catch { send.Dispose(); receive.Dispose(); throw; }
        return new Pending(this, request, send, receive, "MPI_Iallgather");
    }

    /// <inheritdoc/>
    public void SendReceive(ReadOnlySpan<float> send, int destination, Span<float> receive, int source)
    {
        if ((uint)destination >= (uint)Size) throw new ArgumentOutOfRangeException(nameof(destination), destination, $"destination must be a rank in [0, {Size - 1}].");
        if ((uint)source >= (uint)Size) throw new ArgumentOutOfRangeException(nameof(source), source, $"source must be a rank in [0, {Size - 1}].");
        const int tag = 17;
        fixed (float* s = send)
        fixed (float* r = receive)
            _mpi.Check(_mpi.Sendrecv(s, send.Length, _abi.Float, destination, tag, r, receive.Length, _abi.Float, source, tag, _abi.CommWorld,
                (void*)_abi.StatusIgnore), "MPI_Sendrecv");
    }

    /// <inheritdoc/>
    public void Abort(string message, int errorCode = 1)
    {
        try
        {
            Console.Out.Flush();
            Console.Error.WriteLine($"MLConv: rank {Rank} of {Size} failed: {message}");
            Console.Error.WriteLine($"MLConv: aborting the MPI job (MPI_Abort, error code {errorCode}) so that no rank waits for this one.");
            Console.Error.Flush();
        }
        finally
        {
            _mpi.Abort(_abi.CommWorld, errorCode);
            Environment.Exit(errorCode);  // MPI_Abort does not return; should a library return, do not carry on alone
        }
    }

    /// <summary>MPI_Finalize (once). Every rank must call it after its last collective; the process may not use MPI afterwards.</summary>
    public void Dispose()
    {
        lock (InitLock)
        {
            if (_finalized) return;
            _finalized = true;
            int finalized = 0;
            _mpi.Check(_mpi.Finalized(&finalized), "MPI_Finalized");
            if (finalized == 0) _mpi.Check(_mpi.FinalizeFn(), "MPI_Finalize");
        }
    }

    private void CheckGather(int mine, int all)
    {
        if ((long)mine * Size != all)
            throw new ArgumentException($"all must hold Size × mine.Length = {Size} × {mine} values; it holds {all}.", nameof(all));
    }

    private sealed class Pending(MpiCommunicator owner, nint request, MemoryHandle first, MemoryHandle second, string function) : IPendingOperation
    {
        private nint _request = request;
        private bool _done;

        public bool Test()
        {
            if (_done) return true;
            int flag = 0;
            nint r = _request;
            owner._mpi.Check(owner._mpi.Test(&r, &flag, (void*)owner._abi.StatusIgnore), $"MPI_Test ({function})");
            _request = r;
            if (flag != 0) Complete();
            return _done;
        }

        public void Wait()
        {
            if (_done) return;
            nint r = _request;
            owner._mpi.Check(owner._mpi.Wait(&r, (void*)owner._abi.StatusIgnore), $"MPI_Wait ({function})");
            _request = r;
            Complete();
        }

        private void Complete()
        {
            _done = true;
            first.Dispose();
            second.Dispose();
        }
    }
}
