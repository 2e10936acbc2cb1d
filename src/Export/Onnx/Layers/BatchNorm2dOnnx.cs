using MLConv.Training.Layers;
using A = MLConv.Export.Onnx.OnnxGraphBuilder;

namespace MLConv.Export.Onnx.Layers;

/// <summary>BatchNorm2d ⇄ BatchNormalization with the running statistics (inference form; ONNX momentum = 1 − PyTorch momentum).</summary>
internal sealed class BatchNorm2dOnnx : OnnxLayerMapping<BatchNorm2d>
{
    public override IReadOnlyList<string> Imports => ["BatchNormalization"];

    protected override string Export(BatchNorm2d bn, OnnxExportContext context, string path, IReadOnlyList<string> inputs)
    {
        var b = context.Builder;
        int c = bn.NumFeatures;
        string scale = b.Initializer(OnnxExportContext.Join(path, "weight"), bn.Gamma.Value.Span, c);
        string beta = b.Initializer(OnnxExportContext.Join(path, "bias"), bn.Beta.Value.Span, c);
        string mean = b.Initializer(OnnxExportContext.Join(path, "running_mean"), bn.RunningMean.Span, c);
        string var = b.Initializer(OnnxExportContext.Join(path, "running_var"), bn.RunningVar.Span, c);
        return b.Node("BatchNormalization", path, bn.ToString(), [inputs[0], scale, beta, mean, var],
            A.Float("epsilon", (float)bn.Eps),
            A.Float("momentum", (float)(1 - bn.Momentum)));
    }

    public override ImportedLayer Import(OnnxNodeReader n)
    {
        if (n.Int("spatial", 1) != 1) throw new NotSupportedException($"{n.What}: spatial 0 (per-activation statistics) is not supported.");
        if (n.Int("training_mode", 0) != 0) throw new NotSupportedException($"{n.What}: training_mode 1 is not supported.");
        n.Accept("is_test", "consumed_inputs");
        var scale = n.Constant(1);
        double momentum = n.Float("momentum", 0.9f);
        var bn = new BatchNorm2d(scale.Length, n.Float("epsilon", 1e-5f), Math.Clamp(1 - momentum, 0, 1));
        n.CopyExact(scale, bn.Gamma.Value);
        n.CopyExact(n.Constant(2), bn.Beta.Value);
        n.CopyExact(n.Constant(3), bn.RunningMean);
        n.CopyExact(n.Constant(4), bn.RunningVar);
        return n.Single(bn);
    }
}
