using System.Reflection;
using System.Text.Json.Nodes;

namespace MLConv.Training.Layers;

/// <summary>
/// Rebuilds a layer (tree) from the JSON written by <see cref="Layer.ToSpec"/>. Each concrete layer declares in its own
/// file a <c>public static FromSpec(JsonObject)</c> beside its <c>ToSpec()</c>; the registry finds them by reflection, under
/// the class name and any <see cref="SpecAliasAttribute"/> (a layer whose <see cref="Layer.TypeName"/> varies,
/// as Softmax / LogSoftmax). Nothing else has to be edited to add a layer.
/// </summary>
public static class LayerFactory
{
    private static readonly Dictionary<string, (Type Type, Func<JsonObject, Layer> Read)> Readers = Discover();

    /// <summary>The layer type read under each spec name.</summary>
    public static IReadOnlyDictionary<string, Type> SpecTypes { get; } = Readers.ToDictionary(r => r.Key, r => r.Value.Type, StringComparer.Ordinal);

    /// <summary>Builds the layer (with its sub-layers) that <paramref name="spec"/> describes, by its "type" name.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="spec"/> is null.</exception>
    /// <exception cref="InvalidDataException">The spec has no "type", or a type no layer is read under.</exception>
    public static Layer FromSpec(JsonObject spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        string type = spec["type"]?.GetValue<string>() ?? throw new InvalidDataException("Layer spec has no 'type'.");
        return Readers.TryGetValue(type, out var reader)
            ? reader.Read(spec)
            : throw new InvalidDataException($"Unknown layer type '{type}' in the model spec (known: {string.Join(", ", Readers.Keys.Order(StringComparer.Ordinal))}).");
    }

    private static Dictionary<string, (Type, Func<JsonObject, Layer>)> Discover()
    {
        var readers = new Dictionary<string, (Type, Func<JsonObject, Layer>)>(StringComparer.Ordinal);
        foreach (var t in typeof(Layer).Assembly.GetTypes().Where(t => t.IsSubclassOf(typeof(Layer)) && !t.IsAbstract && t.IsPublic))
        {
            var m = t.GetMethod("FromSpec", BindingFlags.Public | BindingFlags.Static | BindingFlags.DeclaredOnly, [typeof(JsonObject)]);
            if (m is null || !typeof(Layer).IsAssignableFrom(m.ReturnType))
                throw new InvalidOperationException($"Layer type {t.FullName} declares no 'public static {t.Name} FromSpec(JsonObject)'.");
            var read = m.CreateDelegate<Func<JsonObject, Layer>>();
            foreach (var name in t.GetCustomAttributes<SpecAliasAttribute>().Select(a => a.Name).Prepend(t.Name))
            {
                if (!readers.TryAdd(name, (t, read))) throw new InvalidOperationException($"Two layer types are read under the spec name '{name}'.");
            }
        }
        return readers;
    }
}

/// <summary>A further spec name (besides the class name) under which <see cref="LayerFactory"/> reads a layer type.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true)]
public sealed class SpecAliasAttribute(string name) : Attribute
{
    /// <summary>The extra spec name.</summary>
    public string Name { get; } = name;
}
