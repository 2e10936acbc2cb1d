using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using MLConv.Training.Layers;
using MLConv.Training.Tensors;
using A = MLConv.Export.Onnx.OnnxGraphBuilder;

namespace MLConv.Export.Onnx.Layers;

/// <summary>Linear ⇄ Gemm(transB 1); MatMul by a constant reads as a bias-free Linear (a following bias Add is absorbed by <see cref="SumOnnx"/>).</summary>
internal sealed class LinearOnnx : OnnxLayerMapping<Linear>
{
    public override IReadOnlyList<string> Imports => ["Gemm", "MatMul"];

    protected override string Export(Linear l, OnnxExportContext context, string path, IReadOnlyList<string> inputs)
    {
        var b = context.Builder;
        string w = b.Initializer(OnnxExportContext.Join(path, "weight"), l.Weight.Value.Span, l.OutFeatures, l.InFeatures);
        List<string> ins = [inputs[0], w];
        if (l.Bias is not null) ins.Add(b.Initializer(OnnxExportContext.Join(path, "bias"), l.Bias.Value.Span, l.OutFeatures));
        // Gemm's C became optional in opset 11.
        else if (context.Opset < 11) ins.Add(b.Initializer(OnnxExportContext.Join(path, "bias"), new float[l.OutFeatures], l.OutFeatures));
        return b.Node("Gemm", path, l.ToString(), ins, A.Int("transB", 1));
    }

    public override ImportedLayer Import(OnnxNodeReader n) => n.Node.OpType == "MatMul" ? ReadMatMul(n) : ReadGemm(n);

    private static ImportedLayer ReadGemm(OnnxNodeReader n)
    {
        if (n.Int("transA", 0) != 0) throw new NotSupportedException($"{n.What}: transA 1 is not supported.");
        n.Accept("broadcast");
        float alpha = n.Float("alpha", 1f), beta = n.Float("beta", 1f);
        var b = n.Constant(1);
        if (b.Rank != 2) throw new NotSupportedException($"{n.What}: B must be 2-D; got [{b.ShapeString}].");
        var w = n.Int("transB", 0) != 0 ? b : OnnxNodeReader.TransposeMatrix(b);
        if (alpha != 1f)
        {
            w = w.Clone();
            TensorPrimitives.Multiply(w.Span, alpha, w.Span);
        }
        Tensor? bias = null;
        if (n.HasInput(2))
        {
            var c = n.Constant(2);
            bias = new Tensor(w.Shape[0]);
            if (c.Length == 1) bias.Fill(c[0] * beta);
            else if (c.Length == bias.Length && (c.Rank == 1 || c.Shape[0] == 1)) TensorPrimitives.Multiply(c.Span, beta, bias.Span);
            else throw new NotSupportedException($"{n.What}: C of shape [{c.ShapeString}] is not a per-output bias.");
        }
        return n.Single(Linear.FromWeights(w, bias));
    }

    private static ImportedLayer ReadMatMul(OnnxNodeReader n)
    {
        var b = n.Constant(1);
        if (b.Rank != 2) throw new NotSupportedException($"{n.What}: the weight must be 2-D; got [{b.ShapeString}].");
        return n.Single(Linear.FromWeights(OnnxNodeReader.TransposeMatrix(b)));
    }

    /// <summary>Add of a constant to the output of a bias-free Linear: a Linear with that bias, reading the same input.</summary>
    internal static ImportedLayer ReadBiasAdd(OnnxNodeReader n)
    {
        int active = n.Active[0];
        if (n.Inputs.Count != 2 || n.Producer(n.Inputs[active]) is not { Layer: Linear { Bias: null } prev } producer)
            throw new NotSupportedException($"{n.What}: only the bias Add after a MatMul, or the sum of two activations, is read.");
        var c = n.Constant(1 - active);
        if (c.Length != prev.OutFeatures) throw new NotSupportedException($"{n.What}: the bias has {c.Length} values; {prev.OutFeatures} expected.");
        return new ImportedLayer(Linear.FromWeights(prev.Weight.Value, c), producer.Inputs);
    }
}
