using System.Text.Json.Nodes;

namespace MLConv.Training.Layers;

/// <summary>
/// y = λ·x for x &gt; 0, else λ·α·(eˣ − 1), with the self-normalising constants α = 1.6732632, λ = 1.0507010
/// (Klambauer et al. 2017; ONNX Selu's defaults, PyTorch's SELU); dy/dx = λ for x &gt; 0, else y + λ·α.
/// </summary>
public sealed class SELU : ElementwiseActivation<ELU.Function>
{
    /// <summary>α and λ as float32, the values ONNX Selu and PyTorch use.</summary>
    public const float Alpha = 1.67326319217681884765625f, Lambda = 1.05070102214813232421875f;

    /// <inheritdoc/>
    protected override ELU.Function Functor => new(Alpha, Lambda);

    /// <summary>Rebuilds a <see cref="SELU"/> from <paramref name="spec"/>, the JSON its <see cref="Layer.ToSpec"/> writes (<see cref="LayerFactory"/> calls this).</summary>
    public static SELU FromSpec(JsonObject spec) => new();
}
