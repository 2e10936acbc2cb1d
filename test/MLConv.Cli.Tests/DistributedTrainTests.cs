using System.Diagnostics;
using MLConv.Tests.Data;
using MLConv.Training.Models;

namespace MLConv.Cli.Tests;

/// <summary>
/// <c>mpirun -np 2 mlconv train</c>: two ranks of the installed command give the model that one process trains with the
/// same <c>--gradient-shards</c>, bit for bit; only rank 0 writes files. Inconclusive where mpirun is not installed
/// (<c>.ci/run</c> installs Open MPI).
/// </summary>
[TestClass]
public sealed class DistributedTrainTests
{
    [TestMethod]
    public void TwoRanksUnderMpirunTrainTheSingleProcessModelBitForBit()
    {
        using var images = new TinyImages(perClass: 8, seed: 3);
        using var output = new TempFolder();
        string[] common = ["train", "--data", images.Root, "--size", "12x12", "--epochs", "2", "--batch", "8", "--gradient-shards", "2", "--threads", "1"];

        var one = Launch(0, [.. common, "--out", output["one.mlconv"]]);
        var two = Launch(2, [.. common, "--out", output["two.mlconv"]]);
        Assert.AreEqual(0, one.Code, one.Output);
        Assert.AreEqual(0, two.Code, two.Output);
        StringAssert.Contains(two.Output, "2 ranks");
        Assert.AreEqual(1, CountOf(two.Output, "Test accuracy"), "only rank 0 prints the summary:\n" + two.Output);

        var a = ModelFile.Load(output["one.mlconv"]).Parameters.ToList();
        var b = ModelFile.Load(output["two.mlconv"]).Parameters.ToList();
        Assert.HasCount(a.Count, b);
        for (int i = 0; i < a.Count; i++)
            Assert.IsTrue(a[i].Value.Span.SequenceEqual(b[i].Value.Span), $"parameter {i} ({a[i].Name}) differs");

        // The comparison can fail: one shard is a different (equally valid) summation order.
        var plain = Launch(0, [.. common[..^4], "--threads", "1", "--out", output["plain.mlconv"]]);
        Assert.AreEqual(0, plain.Code, plain.Output);
        var c = ModelFile.Load(output["plain.mlconv"]).Parameters.ToList();
        Assert.IsFalse(Enumerable.Range(0, a.Count).All(i => a[i].Value.Span.SequenceEqual(c[i].Value.Span)), "one shard should round differently");
    }

    private static int CountOf(string text, string what)
    {
        int n = 0;
        for (int i = text.IndexOf(what, StringComparison.Ordinal); i >= 0; i = text.IndexOf(what, i + 1, StringComparison.Ordinal)) n++;
        return n;
    }

    private static (int Code, string Output) Launch(int ranks, string[] args)
    {
        string tool = Path.Combine(AppContext.BaseDirectory, "mlconv.dll");
        string arguments = $"\"{tool}\" " + string.Join(' ', args.Select(a => $"\"{a}\""));
        ProcessStartInfo start;
        if (ranks == 0) start = new ProcessStartInfo("dotnet", arguments);
        else
        {
            string mpirun = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
                .Select(d => Path.Combine(d, "mpirun")).FirstOrDefault(File.Exists) ?? throw new AssertInconclusiveException(
                "mpirun is not installed (apt-get install openmpi-bin libopenmpi-dev; .ci/run installs it).");
            start = new ProcessStartInfo(mpirun,
                $"--allow-run-as-root --oversubscribe --bind-to none --mca btl_vader_single_copy_mechanism none -np {ranks} dotnet {arguments}");
        }
        start.RedirectStandardOutput = start.RedirectStandardError = true;
        start.UseShellExecute = false;
        using var p = Process.Start(start)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromSeconds(90)))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"'{start.FileName} {start.Arguments}' did not finish within 90 s.");
        }
        p.WaitForExit();
        return (p.ExitCode, $"{start.FileName} {start.Arguments}\n{stdout.Result}\n{stderr.Result}");
    }
}
