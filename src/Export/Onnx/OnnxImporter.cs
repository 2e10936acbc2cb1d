using System.Text;
using MLConv.Export.Layers;
using MLConv.Training.Layers;
using MLConv.Training.Tensors;

namespace MLConv.Export.Onnx;

/// <summary>A model read by <see cref="OnnxImporter"/>: its layers as a Sequential, its one input and the output the chain ends in.</summary>
/// <param name="InputShape">The graph input's dims; a symbolic dimension is -1.</param>
public sealed record OnnxImportedModel(Sequential Root, string InputName, int[] InputShape, string OutputName, long Opset, long IrVersion);

/// <summary>
/// Reads a chain-shaped ONNX graph (each node takes the previous activation; weights are
/// initializers) into MLConv layers: Conv → Conv2d, MaxPool → MaxPool2d, AveragePool → AvgPool2d,
/// GlobalAveragePool → GlobalAvgPool2d, BatchNormalization → BatchNorm2d (running statistics
/// loaded), Gemm or MatMul (+ Add of a constant bias) → Linear, Relu → ReLU, Flatten(axis 1) →
/// Flatten, Softmax/LogSoftmax over the last axis of [N, K] → <see cref="Softmax"/>, Dropout and
/// Identity → nothing. Transpose of an initializer is folded. Legacy attributes of old opsets
/// (is_test, spatial = 1, broadcast, consumed_inputs) are accepted; anything else unknown is refused
/// with a <see cref="NotSupportedException"/> naming the node.
/// </summary>
public static class OnnxImporter
{
    public static OnnxImportedModel Import(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        using var stream = File.OpenRead(path);
        return Import(ModelProto.Parser.ParseFrom(stream));
    }

    public static OnnxImportedModel Import(ModelProto model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var graph = model.Graph ?? throw new InvalidDataException("The model has no graph.");
        long opset = model.OpsetImport.Where(o => o.Domain is "" or "ai.onnx").Select(o => o.Version).DefaultIfEmpty(1).Max();

        var constants = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var init in graph.Initializer) constants[init.Name] = OnnxTensors.ToTensor(init);
        var inputs = graph.Input.Where(i => !constants.ContainsKey(i.Name)).ToList();
        if (inputs.Count != 1)
            throw new NotSupportedException($"The graph has {inputs.Count} non-initializer inputs ({string.Join(", ", inputs.Select(i => i.Name))}); one is supported.");
        var input = inputs[0];
        int[] inputShape = [.. (input.Type?.TensorType?.Shape?.Dim ?? [])
            .Select(d => d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue ? (int)d.DimValue : -1)];

        var reader = new ChainReader(constants, input.Name, [.. inputShape.Select(d => d < 0 ? 1 : d)]);
        foreach (var node in graph.Node) reader.Read(node);
        // The chain's end must be a graph output; others (MLConv's own "logits" before "probabilities") lie on the chain.
        string output = reader.Current;
        if (!graph.Output.Any(o => o.Name == output))
            throw new NotSupportedException($"The end of the node chain ('{output}') is not a graph output ({string.Join(", ", graph.Output.Select(o => o.Name))}).");
        return new OnnxImportedModel(new Sequential(reader.Layers), input.Name, inputShape, output, opset, model.IrVersion);
    }

    private sealed class ChainReader(Dictionary<string, Tensor> constants, string input, int[] shape)
    {
        private int[] _shape = shape;
        private readonly Dictionary<string, string> _alias = new(StringComparer.Ordinal);

        public List<Layer> Layers { get; } = [];
        public string Current { get; private set; } = input;

        public void Read(NodeProto node)
        {
            var ins = node.Input.Select(n => _alias.GetValueOrDefault(n, n)).ToList();
            string what = $"node '{(node.Name.Length > 0 ? node.Name : string.Join(",", node.Output))}' ({node.OpType})";
            try
            {
                if (node.OpType == "Constant")
                {
                    var value = node.Attribute.FirstOrDefault(a => a.Name == "value" && a.T is not null)
                        ?? throw new NotSupportedException($"{what}: only a Constant with a 'value' tensor is read.");
                    constants[node.Output[0]] = OnnxTensors.ToTensor(value.T);
                    return;
                }
                if (ins.Count > 0 && ins.All(n => n.Length == 0 || constants.ContainsKey(n)))
                {
                    constants[node.Output[0]] = Fold(node, ins, what);
                    return;
                }
                int active = ins.FindIndex(n => !constants.ContainsKey(n) && n.Length > 0);
                if (active < 0 || ins[active] != Current || ins.Skip(active + 1).Any(n => n.Length > 0 && !constants.ContainsKey(n)))
                    throw new NotSupportedException($"{what} does not continue the chain from '{Current}'; only chain-shaped graphs are read.");
                var attrs = new Attributes(node, what);
                Layer? layer = node.OpType switch
                {
                    "Conv" => ReadConv(ins, attrs, what),
                    "MaxPool" or "AveragePool" => ReadPool(node, attrs, what),
                    "GlobalAveragePool" => new GlobalAvgPool2d(),
                    "BatchNormalization" => ReadBatchNorm(ins, attrs, what),
                    "Gemm" => ReadGemm(ins, attrs, what),
                    "MatMul" => ReadMatMul(ins, what),
                    "Add" => ReadBiasAdd(ins, active, what),
                    "Relu" => new ReLU(),
                    "Flatten" => attrs.Int("axis", 1) == 1 ? new Flatten() : throw new NotSupportedException($"{what}: only axis 1 is read."),
                    "Softmax" or "LogSoftmax" => ReadSoftmax(node.OpType == "LogSoftmax", attrs, what),
                    "Dropout" or "Identity" => Accept(attrs, "ratio", "is_test", "seed"),
                    _ => throw new NotSupportedException($"{what}: operator {node.OpType} has no MLConv layer."),
                };
                attrs.ThrowOnUnread();
                if (node.OpType != "Dropout" && node.Output.Skip(1).Any(o => o.Length > 0))
                    throw new NotSupportedException($"{what}: extra outputs ({string.Join(", ", node.Output.Skip(1))}) are not supported.");
                if (layer is not null)
                {
                    if (node.OpType == "Add") Layers[^1] = layer;  // the bias folded into the Linear before it
                    else
                    {
                        _shape = layer.OutputShape(_shape);
                        Layers.Add(layer);
                    }
                    Current = node.Output[0];
                }
                else _alias[node.Output[0]] = Current;
            }
            catch (ArgumentException e)
            {
                throw new NotSupportedException($"{what}: {e.Message}", e);
            }
        }

        private static Layer? Accept(Attributes attrs, params string[] names)
        {
            foreach (var n in names) attrs.Has(n);
            return null;
        }

        private Tensor Constant(List<string> ins, int i, string what) =>
            i < ins.Count && ins[i].Length > 0 && constants.TryGetValue(ins[i], out var t) ? t
                : throw new NotSupportedException($"{what}: input {i} must be an initializer.");

        /// <summary>Constant folding of what exporters put on weights: Transpose of a matrix, Identity.</summary>
        private Tensor Fold(NodeProto node, List<string> ins, string what)
        {
            var a = new Attributes(node, what);
            var x = Constant(ins, 0, what);
            Tensor result = node.OpType switch
            {
                "Identity" => x,
                "Transpose" when x.Rank == 2 && (a.Ints("perm") ?? [1, 0]) is [1, 0] => Transpose(x),
                _ => throw new NotSupportedException($"{what}: only Identity and a 2-D Transpose are folded over initializers."),
            };
            a.ThrowOnUnread();
            return result;
        }

        private Layer ReadConv(List<string> ins, Attributes a, string what)
        {
            var w = Constant(ins, 1, what);
            if (w.Rank != 4) throw new NotSupportedException($"{what}: only 2-D convolution is read (weight [{w.ShapeString}]).");
            int group = (int)a.Int("group", 1);
            var k = a.Pair("kernel_shape", (w.Shape[2], w.Shape[3]));
            var s = a.Pair("strides", (1, 1));
            var d = a.Pair("dilations", (1, 1));
            var pad = ReadPads(a, k, s, d, ceil: false);
            bool hasBias = ins.Count > 2 && ins[2].Length > 0;
            var conv = new Conv2d(w.Shape[1] * group, w.Shape[0], k, s, pad, d, group, hasBias);
            w.Span.CopyTo(conv.Weight.Value.Span);
            if (hasBias) CopyExact(Constant(ins, 2, what), conv.Bias!.Value, what);
            return conv;
        }

        private Layer ReadPool(NodeProto node, Attributes a, string what)
        {
            var k = a.Pair("kernel_shape", null);
            var s = a.Pair("strides", (1, 1));
            var d = a.Pair("dilations", (1, 1));
            bool ceil = a.Int("ceil_mode", 0) != 0;
            var pad = ReadPads(a, k, s, d, ceil);
            if (node.OpType == "MaxPool")
            {
                if (a.Int("storage_order", 0) != 0) throw new NotSupportedException($"{what}: storage_order 1 is not supported.");
                return new MaxPool2d(k, s, pad, d, ceil);
            }
            if (d != (Size2)1) throw new NotSupportedException($"{what}: AvgPool2d has no dilation.");
            return new AvgPool2d(k, s, pad, ceil, a.Int("count_include_pad", 0) != 0);
        }

        /// <summary>Explicit pads, or auto_pad resolved against the current input size (SAME_UPPER puts the odd cell at the end).</summary>
        private Padding ReadPads(Attributes a, Size2 k, Size2 s, Size2 d, bool ceil)
        {
            string auto = a.String("auto_pad", "NOTSET");
            if (auto is "NOTSET")
            {
                var p = a.Ints("pads") ?? [0, 0, 0, 0];
                if (p.Length != 4) throw new NotSupportedException($"pads must have 4 entries; got [{string.Join(", ", p)}].");
                return Padding.Explicit((int)p[0], (int)p[1], (int)p[2], (int)p[3]);
            }
            if (auto is "VALID") return 0;
            if (auto is not ("SAME_UPPER" or "SAME_LOWER")) throw new NotSupportedException($"auto_pad '{auto}' is unknown.");
            if (ceil) throw new NotSupportedException("auto_pad SAME with ceil_mode is not supported.");
            int Total(int input, int kernel, int stride, int dil) =>
                Math.Max(0, ((input + stride - 1) / stride - 1) * stride + dil * (kernel - 1) + 1 - input);
            int th = Total(_shape[2], k.H, s.H, d.H), tw = Total(_shape[3], k.W, s.W, d.W);
            return auto == "SAME_UPPER"
                ? Padding.Explicit(th / 2, tw / 2, th - th / 2, tw - tw / 2)
                : Padding.Explicit(th - th / 2, tw - tw / 2, th / 2, tw / 2);
        }

        private Layer ReadBatchNorm(List<string> ins, Attributes a, string what)
        {
            if (a.Int("spatial", 1) != 1) throw new NotSupportedException($"{what}: spatial 0 (per-activation statistics) is not supported.");
            if (a.Int("training_mode", 0) != 0) throw new NotSupportedException($"{what}: training_mode 1 is not supported.");
            a.Int("is_test", 1);
            a.Has("consumed_inputs");
            var scale = Constant(ins, 1, what);
            double momentum = a.Float("momentum", 0.9f);
            var bn = new BatchNorm2d(scale.Length, a.Float("epsilon", 1e-5f), Math.Clamp(1 - momentum, 0, 1));
            CopyExact(scale, bn.Gamma.Value, what);
            CopyExact(Constant(ins, 2, what), bn.Beta.Value, what);
            CopyExact(Constant(ins, 3, what), bn.RunningMean, what);
            CopyExact(Constant(ins, 4, what), bn.RunningVar, what);
            return bn;
        }

        private Layer ReadGemm(List<string> ins, Attributes a, string what)
        {
            if (a.Int("transA", 0) != 0) throw new NotSupportedException($"{what}: transA 1 is not supported.");
            a.Int("broadcast", 1);
            float alpha = a.Float("alpha", 1f), beta = a.Float("beta", 1f);
            var b = Constant(ins, 1, what);
            if (b.Rank != 2) throw new NotSupportedException($"{what}: B must be 2-D; got [{b.ShapeString}].");
            var w = a.Int("transB", 0) != 0 ? b : Transpose(b);
            bool hasBias = ins.Count > 2 && ins[2].Length > 0;
            var linear = new Linear(w.Shape[1], w.Shape[0], hasBias);
            System.Numerics.Tensors.TensorPrimitives.Multiply(w.Span, alpha, linear.Weight.Value.Span);
            if (hasBias)
            {
                var c = Constant(ins, 2, what);
                var bias = linear.Bias!.Value.Span;
                if (c.Length == 1) bias.Fill(c[0] * beta);
                else if (c.Length == bias.Length && (c.Rank == 1 || c.Shape[0] == 1)) System.Numerics.Tensors.TensorPrimitives.Multiply(c.Span, beta, bias);
                else throw new NotSupportedException($"{what}: C of shape [{c.ShapeString}] is not a per-output bias.");
            }
            return linear;
        }

        private Layer ReadMatMul(List<string> ins, string what)
        {
            var b = Constant(ins, 1, what);
            if (b.Rank != 2) throw new NotSupportedException($"{what}: the weight must be 2-D; got [{b.ShapeString}].");
            var linear = new Linear(b.Shape[0], b.Shape[1], bias: false);
            Transpose(b).Span.CopyTo(linear.Weight.Value.Span);
            return linear;
        }

        /// <summary>Add of a constant right after a bias-free Linear becomes that Linear's bias.</summary>
        private Layer ReadBiasAdd(List<string> ins, int active, string what)
        {
            if (Layers.Count == 0 || Layers[^1] is not Linear { Bias: null } prev || ins.Count != 2)
                throw new NotSupportedException($"{what}: only the bias Add after a MatMul is read.");
            var c = Constant(ins, 1 - active, what);
            if (c.Length != prev.OutFeatures) throw new NotSupportedException($"{what}: the bias has {c.Length} values; {prev.OutFeatures} expected.");
            var linear = new Linear(prev.InFeatures, prev.OutFeatures, bias: true);
            prev.Weight.Value.Span.CopyTo(linear.Weight.Value.Span);
            c.Span.CopyTo(linear.Bias!.Value.Span);
            return linear;
        }

        /// <summary>On [N, K] the opset-13 axis semantics and the older flatten-at-axis ones agree for axis 1 (= −1).</summary>
        private Layer ReadSoftmax(bool log, Attributes a, string what)
        {
            long axis = a.Int("axis", 1);
            if (_shape.Length != 2 || !(axis == 1 || axis == -1))
                throw new NotSupportedException($"{what}: only a softmax over the last axis of [N, K] is read (input rank {_shape.Length}, axis {axis}).");
            return new Softmax(log);
        }

        private static Tensor Transpose(Tensor m)
        {
            int r = m.Shape[0], c = m.Shape[1];
            var t = new Tensor(c, r);
            for (int i = 0; i < r; i++)
                for (int j = 0; j < c; j++) t[j * r + i] = m[i * c + j];
            return t;
        }

        private static void CopyExact(Tensor from, Tensor to, string what)
        {
            if (from.Length != to.Length) throw new NotSupportedException($"{what}: a tensor has {from.Length} values; {to.Length} expected.");
            from.Span.CopyTo(to.Span);
        }
    }

    /// <summary>A node's attributes, read by name; <see cref="ThrowOnUnread"/> refuses any that no reader looked at.</summary>
    private sealed class Attributes(NodeProto node, string what)
    {
        private readonly Dictionary<string, AttributeProto> _all = node.Attribute.ToDictionary(a => a.Name, StringComparer.Ordinal);
        private readonly HashSet<string> _read = new(StringComparer.Ordinal);

        private AttributeProto? Get(string name)
        {
            _read.Add(name);
            return _all.GetValueOrDefault(name);
        }

        public bool Has(string name) => Get(name) is not null;
        public long Int(string name, long fallback) => Get(name) is { } a ? a.I : fallback;
        public float Float(string name, float fallback) => Get(name) is { } a ? a.F : fallback;
        public string String(string name, string fallback) => Get(name) is { } a ? Encoding.UTF8.GetString(a.S.Span) : fallback;
        public long[]? Ints(string name) => Get(name) is { } a ? [.. a.Ints] : null;

        public Size2 Pair(string name, Size2? fallback)
        {
            var v = Ints(name);
            if (v is null) return fallback ?? throw new NotSupportedException($"{what}: attribute '{name}' is required.");
            if (v.Length != 2) throw new NotSupportedException($"{what}: '{name}' must have 2 entries (2-D); got [{string.Join(", ", v)}].");
            return ((int)v[0], (int)v[1]);
        }

        public void ThrowOnUnread()
        {
            var unread = _all.Keys.Where(k => !_read.Contains(k)).ToList();
            if (unread.Count > 0) throw new NotSupportedException($"{what}: attribute(s) {string.Join(", ", unread)} not supported.");
        }
    }
}
