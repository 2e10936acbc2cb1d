using MLConv.Training.Tensors;

namespace MLConv.Training.Layers;

/// <summary>A trainable tensor and the gradient that backward accumulates into it.</summary>
public sealed class Parameter
{
    /// <summary>A parameter named <paramref name="name"/> holding <paramref name="value"/> (not copied), with a zero gradient of the same shape.</summary>
    public Parameter(string name, Tensor value)
    {
        Name = name;
        Value = value;
        Grad = new Tensor(value.ShapeArray);
    }

    /// <summary>Name inside its layer ("weight", "bias").</summary>
    public string Name { get; }
    /// <summary>The trainable values; optimizers update them in place.</summary>
    public Tensor Value { get; }
    /// <summary>dL/dValue, same shape; backward accumulates into it (+=), the trainer zeroes it per step.</summary>
    public Tensor Grad { get; }

    /// <summary>False for parameters that weight decay should leave alone (set by the caller; default true).</summary>
    public bool Decay { get; init; } = true;

    /// <summary>False for a frozen parameter (inside a <see cref="Frozen"/> block): the trainer's optimizer leaves it as it is.</summary>
    public bool Trainable { get; set; } = true;
}
