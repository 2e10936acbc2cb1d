namespace MLConv.Training.Distributed;

/// <summary>MPI is missing, was not started by a launcher, or one of its calls failed.</summary>
public sealed class MpiException : Exception
{
    /// <summary>An MPI failure described by <paramref name="message"/>.</summary>
    public MpiException(string message) : base(message) { }
    /// <summary>An MPI failure described by <paramref name="message"/>, caused by <paramref name="inner"/>.</summary>
    public MpiException(string message, Exception inner) : base(message, inner) { }
}
