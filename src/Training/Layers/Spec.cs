using System.Text.Json.Nodes;
using MLConv.Training.Kernels;

namespace MLConv.Training.Layers;

/// <summary>JSON helpers for layer specs.</summary>
internal static class Spec
{
    public static JsonArray Pair(Size2 s) => [s.H, s.W];
    public static JsonArray Pad(Window2d g) => [g.PadTop, g.PadLeft, g.PadBottom, g.PadRight];

    public static int Int(JsonObject o, string name) =>
        (o[name] ?? throw new InvalidDataException($"Layer spec '{o["type"]}' lacks '{name}'.")).GetValue<int>();

    public static double Double(JsonObject o, string name) =>
        (o[name] ?? throw new InvalidDataException($"Layer spec '{o["type"]}' lacks '{name}'.")).GetValue<double>();

    public static bool Bool(JsonObject o, string name) =>
        (o[name] ?? throw new InvalidDataException($"Layer spec '{o["type"]}' lacks '{name}'.")).GetValue<bool>();

    public static int[] Ints(JsonObject o, string name) =>
        [.. (o[name] as JsonArray ?? throw new InvalidDataException($"Layer spec '{o["type"]}' lacks '{name}'.")).Select(n => n!.GetValue<int>())];

    public static string String(JsonObject o, string name) =>
        (o[name] ?? throw new InvalidDataException($"Layer spec '{o["type"]}' lacks '{name}'.")).GetValue<string>();

    public static JsonObject Object(JsonObject o, string name) =>
        o[name] as JsonObject ?? throw new InvalidDataException($"Layer spec '{o["type"]}' lacks the object '{name}'.");

    public static IEnumerable<JsonObject> Objects(JsonObject o, string name) =>
        (o[name] as JsonArray ?? throw new InvalidDataException($"Layer spec '{o["type"]}' lacks the array '{name}'."))
            .Select(n => n as JsonObject ?? throw new InvalidDataException($"Layer spec '{o["type"]}' has a non-object entry in '{name}'."));

    public static string[] Strings(JsonObject o, string name) =>
        [.. (o[name] as JsonArray ?? throw new InvalidDataException($"Layer spec '{o["type"]}' lacks '{name}'.")).Select(n => n!.GetValue<string>())];

    public static Size2 Pair(JsonObject o, string name)
    {
        var a = o[name] as JsonArray ?? throw new InvalidDataException($"Layer spec '{o["type"]}' lacks '{name}'.");
        return (a[0]!.GetValue<int>(), a[1]!.GetValue<int>());
    }

    public static Padding Pad(JsonObject o, string name)
    {
        var a = o[name] as JsonArray ?? throw new InvalidDataException($"Layer spec '{o["type"]}' lacks '{name}'.");
        return Padding.Explicit(a[0]!.GetValue<int>(), a[1]!.GetValue<int>(), a[2]!.GetValue<int>(), a[3]!.GetValue<int>());
    }
}
