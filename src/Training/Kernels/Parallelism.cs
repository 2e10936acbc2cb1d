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
        private static int _busy, _workers, _count, _running;
        private static long _state;   // generation << 32 | next index to claim (Closed while a loop is being published)
        private const int Closed = int.MaxValue;
        private static Job? _job;
        private static Exception? _error;
        [ThreadStatic] private static bool _isWorker;

        /// <summary>
        /// Publishes the loop, wakes up to <paramref name="helpers"/> workers and runs items on the calling thread too;
        /// returns when every item is done. A worker that wakes late finds every item taken (or a newer loop) and does
        /// nothing: the caller waits only for items in flight, never for a worker to be scheduled.
        /// </summary>
        public static bool TryRun<TState>(int count, int helpers, in TState state, Body<TState> body)
        {
            if (_isWorker || Interlocked.CompareExchange(ref _busy, 1, 0) != 0) return false;
            var job = Job<TState>.Instance;
            try
            {
                EnsureWorkers(helpers);
                long generation = (Volatile.Read(ref _state) >> 32) + 1;
                // The new generation, closed (no index claimable) while the job is written; then opened at index 0.
                Interlocked.Exchange(ref _state, generation << 32 | Closed);
                job.State = state;
                job.Body = body;
                _error = null;
                Volatile.Write(ref _job, job);
                Volatile.Write(ref _count, count);
                Interlocked.Exchange(ref _state, generation << 32);
                Signal.Release(helpers);
                RunItems(generation, job, count);
                var spin = new SpinWait();
                while (Volatile.Read(ref _running) != 0) spin.SpinOnce(sleep1Threshold: -1);
                if (_error is { } e)
                {
                    _error = null;
                    System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e);
                }
                return true;
            }
            finally
            {
                job.Clear();
                Volatile.Write(ref _busy, 0);
            }
        }

        /// <summary>Claims and runs items of <paramref name="generation"/> until none is left (or a newer loop started).</summary>
        private static void RunItems(long generation, Job job, int count)
        {
            while (true)
            {
                Interlocked.Increment(ref _running);   // before the claim: the caller waits while a claimed item may run
                long s = Volatile.Read(ref _state);
                int i = (int)s;
                if (s >> 32 != generation || i >= count || Interlocked.CompareExchange(ref _state, s + 1, s) != s)
                {
                    Interlocked.Decrement(ref _running);
                    if (s >> 32 != generation || i >= count) return;
                    continue;   // another thread claimed i first
                }
                try { job.Run(i); }
                catch (Exception e) { Interlocked.CompareExchange(ref _error, e, null); }
                finally { Interlocked.Decrement(ref _running); }
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
                long s = Volatile.Read(ref _state);
                for (var spin = new SpinWait(); (int)s == Closed; s = Volatile.Read(ref _state)) spin.SpinOnce(sleep1Threshold: -1);
                var job = Volatile.Read(ref _job);
                int count = Volatile.Read(ref _count);
                // Job and count were written before this generation opened; a claim succeeds only while it is current.
                if (job is not null) RunItems(s >> 32, job, count);
            }
        }
    }
}
