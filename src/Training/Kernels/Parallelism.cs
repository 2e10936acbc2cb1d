namespace MLConv.Training.Kernels;

/// <summary>
/// Thread settings of the compute kernels. Kernels partition work so that every output element is
/// reduced by one thread in a fixed order: results do not depend on the thread count.
/// Parallel loops run on a small set of dedicated worker threads (MaxThreads − 1 of them, started on first use; the
/// calling thread takes items too): a loop allocates nothing and starts in microseconds, which matters for the
/// hundreds of short loops of one batch-1 forward. A loop started while another runs (nested, or from a second
/// thread) goes to <see cref="Parallel.For(int, int, ParallelOptions, Action{int})"/> instead.
/// </summary>
public static class Parallelism
{
    private static int _maxThreads = Environment.ProcessorCount;

    /// <summary>Most threads a kernel uses (default: processor count).</summary>
    public static int MaxThreads
    {
        get => _maxThreads;
        set
        {
            if (value < 1) throw new ArgumentOutOfRangeException(nameof(value), value, "MaxThreads must be >= 1.");
            _maxThreads = value;
        }
    }

    internal static ParallelOptions Options => new() { MaxDegreeOfParallelism = _maxThreads };

    /// <summary>A loop body that reads its inputs from <paramref name="state"/> (a static lambda then captures nothing).</summary>
    internal delegate void Body<TState>(in TState state, int index);

    /// <summary>Runs body(i) for i in [0, count), in parallel when the work is large enough.</summary>
    internal static void For(int count, long workPerItem, Action<int> body) =>
        For(count, workPerItem, body, static (in Action<int> b, int i) => b(i));

    /// <summary>Runs body(state, i) for i in [0, count), in parallel when the work (workPerItem·count) is at least 2^16.</summary>
    internal static void For<TState>(int count, long workPerItem, in TState state, Body<TState> body)
    {
        if (count <= 0) return;
        if (count == 1 || _maxThreads == 1 || workPerItem * count < 1 << 16)
        {
            for (int i = 0; i < count; i++) body(in state, i);
            return;
        }
        if (!Pool.TryRun(count, Math.Min(_maxThreads, count) - 1, state, body))
        {
            var s = state;   // a nested or concurrent loop: the framework's scheduler (allocates a closure)
            Parallel.For(0, count, Options, i => body(in s, i));
        }
    }

    /// <summary>The worker threads and the one loop they serve at a time.</summary>
    private static class Pool
    {
        private abstract class Job
        {
            public abstract void Run(int index);
            public abstract void Clear();
        }

        private sealed class Job<TState> : Job
        {
            public static readonly Job<TState> Instance = new();
            public TState State = default!;
            public Body<TState> Body = null!;
            public override void Run(int index) => Body(in State, index);
            public override void Clear() { State = default!; Body = null!; }
        }

        private static readonly object Gate = new();
        private static readonly SemaphoreSlim Signal = new(0);
        private static int _busy, _workers, _count, _next, _active;
        private static Job? _job;
        private static Exception? _error;
        [ThreadStatic] private static bool _isWorker;

        public static bool TryRun<TState>(int count, int helpers, in TState state, Body<TState> body)
        {
            if (_isWorker || Interlocked.CompareExchange(ref _busy, 1, 0) != 0) return false;
            try
            {
                EnsureWorkers(helpers);
                var job = Job<TState>.Instance;
                job.State = state;
                job.Body = body;
                _job = job;
                _count = count;
                _error = null;
                Volatile.Write(ref _next, 0);
                Volatile.Write(ref _active, helpers);
                Signal.Release(helpers);
                RunItems(job);
                var spin = new SpinWait();
                while (Volatile.Read(ref _active) != 0) spin.SpinOnce();
                job.Clear();
                _job = null;
                if (_error is { } e)
                {
                    _error = null;
                    System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e);
                }
                return true;
            }
            finally { Volatile.Write(ref _busy, 0); }
        }

        private static void RunItems(Job job)
        {
            int i;
            while ((i = Interlocked.Increment(ref _next) - 1) < _count)
            {
                try { job.Run(i); }
                catch (Exception e) { Interlocked.CompareExchange(ref _error, e, null); }
            }
        }

        private static void EnsureWorkers(int helpers)
        {
            if (Volatile.Read(ref _workers) >= helpers) return;
            lock (Gate)
                while (_workers < helpers)
                {
                    new Thread(Work) { IsBackground = true, Name = $"MLConv worker {_workers + 1}" }.Start();
                    _workers++;
                }
        }

        private static void Work()
        {
            _isWorker = true;
            while (true)
            {
                Signal.Wait();
                RunItems(Volatile.Read(ref _job)!);
                Interlocked.Decrement(ref _active);
            }
        }
    }
}
