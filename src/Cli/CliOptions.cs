using System.CommandLine;
using System.Globalization;

namespace MLConv.Cli;

/// <summary>A width and height in pixels, written <c>32</c> (square) or <c>64x48</c> (width x height).</summary>
internal readonly record struct ImageSize(int Width, int Height)
{
    public override string ToString() => $"{Width}x{Height}";
}

/// <summary>How many colour channels images are read with.</summary>
internal enum ColorMode { Auto, Gray, Rgb }

/// <summary>
/// Options with their checks at the door: an enum takes one of its names only (case-insensitive; a number is refused
/// and the message lists the choices), a number is checked against its range, naming the option.
/// </summary>
internal static class CliOptions
{
    public static string Lower<T>(T value) where T : struct, Enum => value.ToString().ToLowerInvariant();

    public static Option<T> Enum<T>(string name, T defaultValue, string description) where T : struct, Enum =>
        OneOf(name, defaultValue, [.. System.Enum.GetValues<T>().Select(v => (Lower(v), v))], description);

    /// <summary>One of <paramref name="choices"/> (case-insensitive), returned as spelt in the list.</summary>
    public static Option<string> Choice(string name, string defaultValue, IReadOnlyList<string> choices, string description) =>
        OneOf(name, defaultValue, [.. choices.Select(c => (c, c))], description);

    private static Option<T> OneOf<T>(string name, T defaultValue, IReadOnlyList<(string Name, T Value)> choices, string description)
    {
        string list = string.Join(", ", choices.Select(c => c.Name));
        var option = new Option<T>(name)
        {
            Description = description,
            HelpName = string.Join("|", choices.Select(c => c.Name)),
            DefaultValueFactory = _ => defaultValue,
        };
        option.CustomParser = result =>
        {
            string token = result.Tokens.Count > 0 ? result.Tokens[^1].Value : "";
            foreach (var (choice, value) in choices)
                if (string.Equals(choice, token, StringComparison.OrdinalIgnoreCase)) return value;
            result.AddError($"{name}: '{token}' is not one of {list}.");
            return defaultValue;
        };
        return option;
    }

    public static Option<int> Int(string name, int defaultValue, int min, int max, string description)
    {
        var option = new Option<int>(name) { Description = description, DefaultValueFactory = _ => defaultValue };
        option.CustomParser = result => ParseInt(result, name, min, max) ?? defaultValue;
        return option;
    }

    public static Option<int?> OptionalInt(string name, int min, int max, string description)
    {
        var option = new Option<int?>(name) { Description = description };
        option.CustomParser = result => ParseInt(result, name, min, max);
        return option;
    }

    private static int? ParseInt(System.CommandLine.Parsing.ArgumentResult result, string name, int min, int max)
    {
        string token = result.Tokens.Count > 0 ? result.Tokens[^1].Value : "";
        if (!int.TryParse(token, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int v))
            result.AddError($"{name} expects an integer in [{min}, {max}]; got '{token}'.");
        else if (v < min || v > max) result.AddError($"{name} must be in [{min}, {max}]; got {v}.");
        else return v;
        return null;
    }

    /// <summary>A number in [<paramref name="min"/>, <paramref name="max"/>] (or (min, max] with <paramref name="minExclusive"/>).</summary>
    public static Option<double> Double(string name, double defaultValue, double min, double max, string description, bool minExclusive = false)
    {
        var option = new Option<double>(name) { Description = description, DefaultValueFactory = _ => defaultValue };
        string range = FormattableString.Invariant($"{(minExclusive ? "(" : "[")}{min}, {max}]");
        option.CustomParser = result =>
        {
            string token = result.Tokens.Count > 0 ? result.Tokens[^1].Value : "";
            if (!double.TryParse(token, NumberStyles.Float, CultureInfo.InvariantCulture, out double v))
                result.AddError($"{name} expects a number in {range}; got '{token}'.");
            else if ((minExclusive ? !(v > min) : !(v >= min)) || !(v <= max))
                result.AddError(FormattableString.Invariant($"{name} must be in {range}; got {v}."));
            else return v;
            return defaultValue;
        };
        return option;
    }

    public static Option<ImageSize?> Size(string name, string description)
    {
        var option = new Option<ImageSize?>(name) { Description = description, HelpName = "N|WxH" };
        option.CustomParser = result =>
        {
            string token = result.Tokens.Count > 0 ? result.Tokens[^1].Value : "";
            var parts = token.Split('x', 'X');
            if (parts.Length is 1 or 2 && parts.All(p => int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out int v) && v is >= 1 and <= 4096))
            {
                int w = int.Parse(parts[0], CultureInfo.InvariantCulture), h = int.Parse(parts[^1], CultureInfo.InvariantCulture);
                return new ImageSize(w, h);
            }
            result.AddError($"{name}: '{token}' is not a size; expected N or WxH with sides in [1, 4096] (e.g. 32 or 64x48).");
            return null;
        };
        return option;
    }

    public static Option<string> Required(string name, string description, string? helpName = null) =>
        new(name) { Description = description, Required = true, HelpName = helpName };

    public static Option<string?> Optional(string name, string description, string? helpName = null) =>
        new(name) { Description = description, HelpName = helpName };

    public static Option<bool> Flag(string name, string description) => new(name) { Description = description };
}
