using Onnx;
using MLConv.Training.Layers;
using A = MLConv.Export.Onnx.OnnxGraphBuilder;

namespace MLConv.Export.Onnx.Layers;

/// <summary>An activation written as one ONNX operator on its input, with float attributes, and read back from that operator.</summary>
internal abstract class ActivationOnnx<T>(string op) : OnnxLayerMapping<T> where T : Layer
{
    public override IReadOnlyList<string> Imports => [op];

    /// <summary>The operator's attributes for <paramref name="layer"/>.</summary>
    protected virtual AttributeProto[] Attributes(T layer) => [];

    /// <summary>The layer a node of the operator computes, from its attributes (with ONNX's defaults).</summary>
    protected abstract T Read(OnnxNodeReader n);

    protected override string Export(T layer, OnnxExportContext context, string path, IReadOnlyList<string> inputs) =>
        context.Builder.Node(op, path, layer.ToString(), [inputs[0]], Attributes(layer));

    public override ImportedLayer Import(OnnxNodeReader n)
    {
        n.Accept("consumed_inputs");  // opset 1's in-place hint
        return n.Single(Read(n));
    }
}

/// <summary>Sigmoid ⇄ Sigmoid.</summary>
internal sealed class SigmoidOnnx() : ActivationOnnx<Sigmoid>("Sigmoid")
{
    protected override Sigmoid Read(OnnxNodeReader n) => new();
}

/// <summary>Tanh ⇄ Tanh.</summary>
internal sealed class TanhOnnx() : ActivationOnnx<Tanh>("Tanh")
{
    protected override Tanh Read(OnnxNodeReader n) => new();
}

/// <summary>Softplus ⇄ Softplus.</summary>
internal sealed class SoftplusOnnx() : ActivationOnnx<Softplus>("Softplus")
{
    protected override Softplus Read(OnnxNodeReader n) => new();
}

/// <summary>Softsign ⇄ Softsign.</summary>
internal sealed class SoftsignOnnx() : ActivationOnnx<Softsign>("Softsign")
{
    protected override Softsign Read(OnnxNodeReader n) => new();
}

/// <summary>Abs ⇄ Abs.</summary>
internal sealed class AbsOnnx() : ActivationOnnx<Abs>("Abs")
{
    protected override Abs Read(OnnxNodeReader n) => new();
}

/// <summary>LeakyReLU ⇄ LeakyRelu(alpha = negative slope; ONNX default 0.01).</summary>
internal sealed class LeakyReLUOnnx() : ActivationOnnx<LeakyReLU>("LeakyRelu")
{
    protected override AttributeProto[] Attributes(LeakyReLU l) => [A.Float("alpha", (float)l.NegativeSlope)];
    protected override LeakyReLU Read(OnnxNodeReader n) => new(n.Float("alpha", 0.01f));
}

/// <summary>ELU ⇄ Elu(alpha; ONNX default 1).</summary>
internal sealed class ELUOnnx() : ActivationOnnx<ELU>("Elu")
{
    protected override AttributeProto[] Attributes(ELU l) => [A.Float("alpha", (float)l.Alpha)];
    protected override ELU Read(OnnxNodeReader n) => new(n.Float("alpha", 1f));
}

/// <summary>SELU ⇄ Selu with its standard α and γ (= λ); other constants are refused.</summary>
internal sealed class SELUOnnx() : ActivationOnnx<SELU>("Selu")
{
    protected override AttributeProto[] Attributes(SELU l) => [A.Float("alpha", SELU.Alpha), A.Float("gamma", SELU.Lambda)];

    protected override SELU Read(OnnxNodeReader n)
    {
        float alpha = n.Float("alpha", SELU.Alpha), gamma = n.Float("gamma", SELU.Lambda);
        if (alpha != SELU.Alpha || gamma != SELU.Lambda)
            throw new NotSupportedException($"{n.What}: only the standard constants (alpha {SELU.Alpha}, gamma {SELU.Lambda}) are read; got alpha {alpha}, gamma {gamma}.");
        return new SELU();
    }
}

/// <summary>HardSigmoid ⇄ HardSigmoid(alpha, beta; ONNX defaults 0.2, 0.5).</summary>
internal sealed class HardSigmoidOnnx() : ActivationOnnx<HardSigmoid>("HardSigmoid")
{
    protected override AttributeProto[] Attributes(HardSigmoid l) => [A.Float("alpha", (float)l.Alpha), A.Float("beta", (float)l.Beta)];
    protected override HardSigmoid Read(OnnxNodeReader n) => new(n.Float("alpha", 0.2f), n.Float("beta", 0.5f));
}
