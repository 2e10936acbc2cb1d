namespace MLConv.Training.Kernels;

/// <summary>
/// Thread settings of the compute kernels. Kernels partition work so that every output element is
/// reduced by one thread in a fixed order: results do not depend on the thread count.
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

    /// <summary>Runs body(i) for i in [0, count), in parallel when the work is large enough.</summary>
    internal static void For(int count, long workPerItem, Action<int> body)
    {
        if (count <= 0) return;
        if (count == 1 || _maxThreads == 1 || workPerItem * count < 1 << 16)
        {
            for (int i = 0; i < count; i++) body(i);
            return;
        }
        Parallel.For(0, count, Options, body);
    }
}
