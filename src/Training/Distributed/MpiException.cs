namespace MLConv.Training.Distributed;

/// <summary>MPI is missing, was not started by a launcher, or one of its calls failed.</summary>
public sealed class MpiException : Exception
{
    public MpiException(string message) : base(message) { }
    public MpiException(string message, Exception inner) : base(message, inner) { }
}
