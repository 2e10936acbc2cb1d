namespace MLConv.Training.Init;

/// <summary>Weight initialisation from a seeded <see cref="Random"/>.</summary>
public static class Initializers
{
    /// <summary>He (Kaiming) normal, for ReLU networks: w ~ N(0, 2 / fanIn).</summary>
    public static void HeNormal(Span<float> w, int fanIn, Random rng)
    {
        double std = Math.Sqrt(2.0 / Math.Max(1, fanIn));
        for (int i = 0; i < w.Length; i++) w[i] = (float)(std * StandardNormal(rng));
    }

    /// <summary>A standard normal draw (Box–Muller).</summary>
    public static double StandardNormal(Random rng)
    {
        double u1 = 1.0 - rng.NextDouble();
        double u2 = rng.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }
}
