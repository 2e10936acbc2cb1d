using Onnx;
using System.Text;
using MLConv.Training.Layers;
using MLConv.Training.Tensors;

namespace MLConv.Export.Onnx;

/// <summary>A model read by <see cref="OnnxImporter"/>: its layers as a Sequential (a chain, or one <see cref="Graph"/>), its one input and the output read.</summary>
/// <param name="InputShape">The graph input's dims; a symbolic dimension is -1.</param>
public sealed record OnnxImportedModel(Sequential Root, string InputName, int[] InputShape, string OutputName, long Opset, long IrVersion);

/// <summary>
/// Reads an ONNX graph into MLConv layers. A chain (each node reads the previous activation) becomes a
/// <see cref="Sequential"/> of the layers; any other DAG becomes a Sequential holding one
/// <see cref="Graph"/> whose nodes and values keep the ONNX names. Operators: Conv → Conv2d, MaxPool →
/// MaxPool2d, AveragePool → AvgPool2d, GlobalAveragePool → GlobalAvgPool2d, BatchNormalization →
/// BatchNorm2d (running statistics loaded), Gemm or MatMul (+ Add of a constant bias) → Linear, Relu →
/// ReLU, LRN → LocalResponseNorm, Concat → Concat, Sum and Add of two activations → Sum, Reshape →
/// Reshape, Transpose → Transpose (both keeping the batch axis first), Flatten(axis 1) → Flatten,
/// Softmax/LogSoftmax over all axes after the batch → <see cref="Softmax"/> (with Flatten and Reshape around it on [N, C, …]), Dropout and Identity → nothing.
/// Constant subgraphs are evaluated at import: initializers, Constant, ConstantOfShape, and Identity,
/// 2-D Transpose and Reshape over constants (the light model zoo's weights are ConstantOfShape nodes).
/// Of several graph outputs the one computed from all the others is read (MLConv's own "probabilities"
/// after "logits"); nodes it does not depend on are dropped. Legacy attributes of old opsets (is_test,
/// spatial = 1, broadcast, consumed_inputs) are accepted; anything else unknown is refused with a
/// <see cref="NotSupportedException"/> naming the node and its operator.
/// </summary>
public static class OnnxImporter
{
    public static OnnxImportedModel Import(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"No ONNX model at '{path}'.", path);
        ModelProto model;
        try
        {
            using var stream = File.OpenRead(path);
            model = ModelProto.Parser.ParseFrom(stream);
        }
        catch (Google.Protobuf.InvalidProtocolBufferException e)
        {
            throw new InvalidDataException($"'{path}' is not a valid ONNX model (truncated or corrupted): {e.Message}", e);
        }
        return Import(model);
    }

    public static OnnxImportedModel Import(ModelProto model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var graph = model.Graph ?? throw new InvalidDataException("The model has no graph.");
        long opset = model.OpsetImport.Where(o => o.Domain is "" or "ai.onnx").Select(o => o.Version).DefaultIfEmpty(1).Max();

        var reader = new GraphReader(opset);
        foreach (var init in graph.Initializer) reader.AddInitializer(init);
        var inputs = graph.Input.Where(i => !reader.IsConstant(i.Name)).ToList();
        if (inputs.Count != 1)
            throw new NotSupportedException($"The graph has {inputs.Count} non-initializer inputs ({string.Join(", ", inputs.Take(5).Select(i => i.Name))}{(inputs.Count > 5 ? ", …" : "")}); one is supported.");
        var input = inputs[0];
        int[] inputShape = [.. (input.Type?.TensorType?.Shape?.Dim ?? [])
            .Select(d => d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue ? (int)d.DimValue : -1)];

        reader.SetInput(input.Name, [.. inputShape.Select(d => d < 0 ? 1 : d)]);
        foreach (var node in graph.Node) reader.Read(node);
        var (root, output) = reader.Build([.. graph.Output.Select(o => o.Name)]);
        return new OnnxImportedModel(root, input.Name, inputShape, output, opset, model.IrVersion);
    }

    /// <summary>A layer node read from ONNX: its (unique, dot-free) name, layer, activation inputs and output.</summary>
    private sealed record Pending(string Name, Layer Layer, string[] Inputs, string Output);

    private sealed class GraphReader(long opset)
    {
        private readonly Dictionary<string, Tensor> _floats = new(StringComparer.Ordinal);
        private readonly Dictionary<string, (long[] Values, int[] Shape)> _ints = new(StringComparer.Ordinal);
        private readonly HashSet<string> _opaque = new(StringComparer.Ordinal);  // constants of types no reader takes
        private readonly Dictionary<string, string> _alias = new(StringComparer.Ordinal);
        private readonly Dictionary<string, int[]> _shapes = new(StringComparer.Ordinal);  // activations, batch 1 for a symbolic batch
        private readonly Dictionary<string, Pending> _writer = new(StringComparer.Ordinal);
        private readonly HashSet<string> _names = new(StringComparer.Ordinal);
        private readonly List<Pending> _nodes = [];
        private string _input = "";

        public void AddInitializer(TensorProto t)
        {
            if (OnnxTensors.IsFloat(t)) _floats[t.Name] = OnnxTensors.ToTensor(t);
            else if (OnnxTensors.IsInteger(t)) _ints[t.Name] = (OnnxTensors.ToInt64s(t, out var shape), shape);
            else _opaque.Add(t.Name);
        }

        public bool IsConstant(string name) => _floats.ContainsKey(name) || _ints.ContainsKey(name) || _opaque.Contains(name);

        public void SetInput(string name, int[] shape)
        {
            _input = name;
            _shapes[name] = shape;
        }

        private string Resolve(string name) => _alias.GetValueOrDefault(name, name);

        public void Read(NodeProto node)
        {
            var ins = node.Input.Select(Resolve).ToList();
            string what = $"node '{(node.Name.Length > 0 ? node.Name : string.Join(",", node.Output))}' ({node.OpType})";
            try
            {
                if (node.Output.Count == 0 || node.Output[0].Length == 0) throw new NotSupportedException($"{what} has no output.");
                if (node.OpType == "Constant") { ReadConstant(node, what); return; }
                if (node.OpType == "ConstantOfShape") { ReadConstantOfShape(node, ins, what); return; }
                if (ins.Count > 0 && ins.All(n => n.Length == 0 || IsConstant(n)))
                {
                    Fold(node, ins, what);
                    return;
                }
                var active = Enumerable.Range(0, ins.Count).Where(i => ins[i].Length > 0 && !IsConstant(ins[i])).ToList();
                foreach (int i in active)
                    if (!_shapes.ContainsKey(ins[i]))
                        throw new NotSupportedException($"{what} reads '{ins[i]}', which is neither the graph input, a constant nor the output of an earlier node.");
                var attrs = new Attributes(node, what);
                if (node.OpType is "Concat" or "Sum" || (node.OpType == "Add" && active.Count > 1))
                    ReadJoin(node, ins, active, attrs, what);
                else
                {
                    if (active.Count != 1 || (node.OpType != "Add" && active[0] != 0))
                        throw new NotSupportedException($"{what} reads the activations [{string.Join(", ", active.Select(i => ins[i]))}]; its operator takes one, as input 0.");
                    string x = ins[active[0]];
                    int[] shape = _shapes[x];
                    Layer? layer = node.OpType switch
                    {
                        "Conv" => ReadConv(ins, shape, attrs, what),
                        "MaxPool" or "AveragePool" => ReadPool(node, shape, attrs, what),
                        "GlobalAveragePool" => new GlobalAvgPool2d(),
                        "BatchNormalization" => ReadBatchNorm(ins, attrs, what),
                        "Gemm" => ReadGemm(ins, attrs, what),
                        "MatMul" => ReadMatMul(ins, what),
                        "Add" => Accept(attrs, "broadcast", "axis", "consumed_inputs"),
                        "Relu" => new ReLU(),
                        "LRN" => ReadLrn(attrs, what),
                        "Reshape" => ReadReshape(ins, shape, attrs, what),
                        "Transpose" => ReadTranspose(attrs, what),
                        "Flatten" => attrs.Int("axis", 1) == 1 ? new Flatten() : throw new NotSupportedException($"{what}: only axis 1 is read."),
                        "Softmax" or "LogSoftmax" => ReadSoftmax(node.OpType == "LogSoftmax", shape, attrs, what),
                        "Dropout" or "Identity" => Accept(attrs, "ratio", "is_test", "seed"),
                        _ => throw new NotSupportedException($"{what}: operator {node.OpType} has no MLConv layer."),
                    };
                    attrs.ThrowOnUnread();
                    if (node.OpType != "Dropout" && node.Output.Skip(1).Any(o => o.Length > 0))
                        throw new NotSupportedException($"{what}: extra outputs ({string.Join(", ", node.Output.Skip(1))}) are not supported.");
                    if (node.OpType == "Add") ReadBiasAdd(node, ins, active[0], what);
                    else if (layer is null) _alias[node.Output[0]] = x;
                    else AddNode(node, layer, [x]);
                }
            }
            catch (ArgumentException e)
            {
                throw new NotSupportedException($"{what}: {e.Message}", e);
            }
        }

        private void AddNode(NodeProto node, Layer layer, string[] inputs)
        {
            string output = node.Output[0];
            int[][] shapes = [.. inputs.Select(v => _shapes[v])];
            _shapes[output] = layer is MultiInputLayer m ? m.OutputShape(shapes) : layer.OutputShape(shapes[0]);
            string name = (node.Name.Length > 0 ? node.Name : output).Replace('.', '_');
            if (!_names.Add(name))
                for (int k = 1; ; k++)
                    if (_names.Add($"{name}_{k}")) { name = $"{name}_{k}"; break; }
            var pending = new Pending(name, layer, inputs, output);
            _nodes.Add(pending);
            _writer[output] = pending;
        }

        /// <summary>Concat, Sum, and Add of two activations: one node joining branches (a single input is the identity).</summary>
        private void ReadJoin(NodeProto node, List<string> ins, List<int> active, Attributes attrs, string what)
        {
            if (active.Count != ins.Count)
                throw new NotSupportedException($"{what}: joining activations with constants ({string.Join(", ", ins.Where(IsConstant))}) is not supported.");
            MultiInputLayer layer;
            if (node.OpType == "Concat")
            {
                int rank = _shapes[ins[0]].Length;
                long axis = attrs.Int("axis", 1);
                if (axis < 0) axis += rank;
                if (axis < 1 || axis >= rank) throw new NotSupportedException($"{what}: only a concatenation after the batch axis is read (axis {attrs.Int("axis", 1)}, rank {rank}).");
                layer = new Concat((int)axis);
            }
            else
            {
                attrs.Int("broadcast", 0);
                attrs.Has("axis");
                attrs.Has("consumed_inputs");
                layer = new Sum();
            }
            attrs.ThrowOnUnread();
            if (node.Output.Skip(1).Any(o => o.Length > 0))
                throw new NotSupportedException($"{what}: extra outputs ({string.Join(", ", node.Output.Skip(1))}) are not supported.");
            if (ins.Count == 1) _alias[node.Output[0]] = ins[0];
            else AddNode(node, layer, [.. ins]);
        }

        /// <summary>The graph output computed from all the others, with the nodes it depends on.</summary>
        public (Sequential Root, string OutputName) Build(IReadOnlyList<string> graphOutputs)
        {
            if (graphOutputs.Count == 0) throw new NotSupportedException("The graph has no output.");
            foreach (var o in graphOutputs)
                if (IsConstant(Resolve(o))) throw new NotSupportedException($"The graph output '{o}' is a constant; only outputs computed from the input are read.");
                else if (!_shapes.ContainsKey(Resolve(o))) throw new NotSupportedException($"The graph output '{o}' is computed by no node.");
            var ancestors = graphOutputs.Select(o => Ancestors(Resolve(o))).ToList();
            int chosen = Enumerable.Range(0, graphOutputs.Count)
                .FirstOrDefault(i => graphOutputs.All(o => ancestors[i].Contains(Resolve(o))), -1);
            if (chosen < 0)
                throw new NotSupportedException($"The graph outputs ({string.Join(", ", graphOutputs)}) do not lie on one path; one output, or outputs each computed from the next, are supported.");
            string output = Resolve(graphOutputs[chosen]);
            var keep = _nodes.Where(n => ancestors[chosen].Contains(n.Output)).ToList();

            string current = _input;
            bool chain = true;
            foreach (var n in keep)
            {
                chain &= n.Layer is not MultiInputLayer && n.Inputs.Length == 1 && n.Inputs[0] == current;
                current = n.Output;
            }
            var root = chain && current == output
                ? new Sequential(keep.Select(n => n.Layer))
                : new Sequential(new Graph(_input, keep.Select(n => new GraphNode(n.Name, n.Layer, n.Inputs, n.Output)), output));
            return (root, graphOutputs[chosen]);
        }

        /// <summary>The value and every activation it is computed from.</summary>
        private HashSet<string> Ancestors(string value)
        {
            var seen = new HashSet<string>(StringComparer.Ordinal) { value };
            var stack = new Stack<string>([value]);
            while (stack.Count > 0)
                if (_writer.TryGetValue(stack.Pop(), out var n))
                    foreach (var v in n.Inputs)
                        if (seen.Add(v)) stack.Push(v);
            return seen;
        }

        private static Layer? Accept(Attributes attrs, params string[] names)
        {
            foreach (var n in names) attrs.Has(n);
            return null;
        }

        private Tensor Constant(List<string> ins, int i, string what) =>
            i < ins.Count && ins[i].Length > 0 && _floats.TryGetValue(ins[i], out var t) ? t
                : throw new NotSupportedException($"{what}: input {i} must be a float constant (an initializer or a constant subgraph).");

        private long[] IntConstant(List<string> ins, int i, string what) =>
            i < ins.Count && ins[i].Length > 0 && _ints.TryGetValue(ins[i], out var t) && t.Shape.Length <= 1 ? t.Values
                : throw new NotSupportedException($"{what}: input {i} must be a constant 1-D integer tensor (computed shapes are not supported).");

        private void ReadConstant(NodeProto node, string what)
        {
            var a = node.Attribute.FirstOrDefault(a => a.Name is "value" or "value_float" or "value_floats" or "value_int" or "value_ints")
                ?? throw new NotSupportedException($"{what}: only a Constant with a value, value_float(s) or value_int(s) attribute is read.");
            string name = node.Output[0];
            switch (a.Name)
            {
                case "value" when a.T is not null && OnnxTensors.IsFloat(a.T): _floats[name] = OnnxTensors.ToTensor(a.T); break;
                case "value" when a.T is not null && OnnxTensors.IsInteger(a.T): _ints[name] = (OnnxTensors.ToInt64s(a.T, out var shape), shape); break;
                case "value": _opaque.Add(name); break;
                case "value_float": _floats[name] = new Tensor([], [a.F]); break;
                case "value_floats": _floats[name] = new Tensor([a.Floats.Count], [.. a.Floats]); break;
                case "value_int": _ints[name] = ([a.I], []); break;
                default: _ints[name] = ([.. a.Ints], [a.Ints.Count]); break;
            }
        }

        /// <summary>y = a tensor of the given shape filled with <c>value</c> (a one-element tensor, float 0 by default).</summary>
        private void ReadConstantOfShape(NodeProto node, List<string> ins, string what)
        {
            long[] dims = IntConstant(ins, 0, what);
            if (dims.Any(d => d < 0 || d > int.MaxValue)) throw new NotSupportedException($"{what}: shape [{string.Join(", ", dims)}] has a negative or huge dimension.");
            int[] shape = [.. dims.Select(d => (int)d)];
            var value = node.Attribute.FirstOrDefault(a => a.Name == "value")?.T;
            long n = 1;
            foreach (int d in shape) n *= d;
            if (n > int.MaxValue) throw new NotSupportedException($"{what}: shape [{string.Join(", ", dims)}] holds {n} values, more than one tensor can.");
            if (value is not null && value.Dims.Aggregate(1L, (a, d) => a * d) != 1)
                throw new NotSupportedException($"{what}: 'value' must hold exactly one element; it has shape [{string.Join(", ", value.Dims)}].");
            if (value is not null && OnnxTensors.IsInteger(value))
            {
                long v = OnnxTensors.ToInt64s(value, out _).Single();
                _ints[node.Output[0]] = ([.. Enumerable.Repeat(v, (int)n)], shape);
                return;
            }
            if (value is not null && !OnnxTensors.IsFloat(value))
                throw new NotSupportedException($"{what}: value of data type {(TensorProto.Types.DataType)value.DataType} is not supported.");
            float fill = value is null ? 0f : OnnxTensors.ToTensor(value).Span.ToArray().Single();
            var t = new Tensor(shape);
            if (fill != 0f) t.Fill(fill);
            _floats[node.Output[0]] = t;
        }

        /// <summary>Evaluates a node over constants: Identity, Transpose of a matrix, Reshape.</summary>
        private void Fold(NodeProto node, List<string> ins, string what)
        {
            var a = new Attributes(node, what);
            string output = node.Output[0];
            switch (node.OpType)
            {
                case "Identity" when _ints.TryGetValue(ins[0], out var iv): _ints[output] = iv; break;
                case "Identity": _floats[output] = Constant(ins, 0, what); break;
                case "Transpose" when Constant(ins, 0, what) is { Rank: 2 } m && (a.Ints("perm") ?? [1, 0]) is [1, 0]:
                    _floats[output] = TransposeMatrix(m);
                    break;
                case "Reshape":
                {
                    if (a.Int("allowzero", 0) != 0) throw new NotSupportedException($"{what}: allowzero 1 is not supported.");
                    var x = Constant(ins, 0, what);
                    a.Has("consumed_inputs");
                    var target = a.Ints("shape") ?? IntConstant(ins, 1, what);
                    _floats[output] = x.Clone().Reshape(ReshapeTarget(x.ShapeArray, target, what));
                    break;
                }
                default:
                    throw new NotSupportedException($"{what}: only Identity, a 2-D Transpose, Reshape and ConstantOfShape are evaluated over constants.");
            }
            a.ThrowOnUnread();
        }

        /// <summary>ONNX Reshape's output shape (allowzero 0): 0 copies the input's dimension at that position, one −1 is inferred.</summary>
        private static int[] ReshapeTarget(int[] input, long[] target, string what)
        {
            long total = 1;
            foreach (int d in input) total *= d;
            var y = new int[target.Length];
            long known = 1;
            int infer = -1;
            for (int i = 0; i < target.Length; i++)
            {
                long d = target[i];
                if (d == 0 && i < input.Length) d = input[i];
                if (d == -1 && infer < 0) { infer = i; continue; }
                if (d < 0 || d > int.MaxValue) throw new NotSupportedException($"{what}: cannot reshape [{string.Join(", ", input)}] to [{string.Join(", ", target)}].");
                y[i] = (int)d;
                known *= d;
            }
            if (infer >= 0)
            {
                if (known == 0 || total % known != 0) throw new NotSupportedException($"{what}: cannot reshape [{string.Join(", ", input)}] to [{string.Join(", ", target)}].");
                y[infer] = (int)(total / known);
            }
            else if (known != total) throw new NotSupportedException($"{what}: cannot reshape [{string.Join(", ", input)}] ({total} values) to [{string.Join(", ", target)}].");
            return y;
        }

        /// <summary>
        /// Reshape of an activation, batch axis kept: the target's first entry must be 0, −1 (inferred as the
        /// batch) or the batch itself (a model exported for batch 1 writes 1); the rest is MLConv's per-sample shape.
        /// </summary>
        private Layer ReadReshape(List<string> ins, int[] shape, Attributes a, string what)
        {
            if (a.Int("allowzero", 0) != 0) throw new NotSupportedException($"{what}: allowzero 1 is not supported.");
            a.Has("consumed_inputs");
            var target = a.Ints("shape") ?? IntConstant(ins, 1, what);
            var full = ReshapeTarget(shape, target, what);
            if (target.Length < 2 || full[0] != shape[0] || !(target[0] is 0 or -1 || target[0] == shape[0]))
                throw new NotSupportedException($"{what}: Reshape of [{string.Join(", ", shape)}] to [{string.Join(", ", target)}] does not keep the batch axis first.");
            var layer = new Reshape([.. target.Skip(1).Select(d => (int)d)]);
            if (!layer.OutputShape(shape).AsSpan().SequenceEqual(full))
                throw new NotSupportedException($"{what}: Reshape of [{string.Join(", ", shape)}] to [{string.Join(", ", target)}] does not keep the batch axis first.");
            return layer;
        }

        private static Layer ReadTranspose(Attributes a, string what)
        {
            var perm = a.Ints("perm") ?? throw new NotSupportedException($"{what}: a Transpose without perm reverses the axes, moving the batch axis.");
            if (perm.Length == 0 || perm[0] != 0) throw new NotSupportedException($"{what}: perm [{string.Join(", ", perm)}] moves the batch axis.");
            return new Transpose([.. perm.Select(p => (int)p)]);
        }

        private static Layer ReadLrn(Attributes a, string what)
        {
            long size = a.Int("size", 0);
            if (size < 1) throw new NotSupportedException($"{what}: size must be >= 1; got {size}.");
            return new LocalResponseNorm((int)size, a.Float("alpha", 1e-4f), a.Float("beta", 0.75f), a.Float("bias", 1f));
        }

        private Layer ReadConv(List<string> ins, int[] shape, Attributes a, string what)
        {
            var w = Constant(ins, 1, what);
            if (w.Rank != 4) throw new NotSupportedException($"{what}: only 2-D convolution is read (weight [{w.ShapeString}]).");
            int group = (int)a.Int("group", 1);
            var k = a.Pair("kernel_shape", (w.Shape[2], w.Shape[3]));
            var s = a.Pair("strides", (1, 1));
            var d = a.Pair("dilations", (1, 1));
            var pad = ReadPads(a, shape, k, s, d, ceil: false);
            bool hasBias = ins.Count > 2 && ins[2].Length > 0;
            var conv = new Conv2d(w.Shape[1] * group, w.Shape[0], k, s, pad, d, group, hasBias);
            w.Span.CopyTo(conv.Weight.Value.Span);
            if (hasBias) CopyExact(Constant(ins, 2, what), conv.Bias!.Value, what);
            return conv;
        }

        private static Layer ReadPool(NodeProto node, int[] shape, Attributes a, string what)
        {
            var k = a.Pair("kernel_shape", null);
            var s = a.Pair("strides", (1, 1));
            var d = a.Pair("dilations", (1, 1));
            bool ceil = a.Int("ceil_mode", 0) != 0;
            var pad = ReadPads(a, shape, k, s, d, ceil);
            if (node.OpType == "MaxPool")
            {
                if (a.Int("storage_order", 0) != 0) throw new NotSupportedException($"{what}: storage_order 1 is not supported.");
                return new MaxPool2d(k, s, pad, d, ceil);
            }
            if (d != (Size2)1) throw new NotSupportedException($"{what}: AvgPool2d has no dilation.");
            return new AvgPool2d(k, s, pad, ceil, a.Int("count_include_pad", 0) != 0);
        }

        /// <summary>Explicit pads, or auto_pad resolved against the input size (SAME_UPPER puts the odd cell at the end).</summary>
        private static Padding ReadPads(Attributes a, int[] shape, Size2 k, Size2 s, Size2 d, bool ceil)
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
            if (shape.Length != 4) throw new NotSupportedException($"auto_pad SAME needs an [N, C, H, W] input; got [{string.Join(", ", shape)}].");
            int Total(int input, int kernel, int stride, int dil) =>
                Math.Max(0, ((input + stride - 1) / stride - 1) * stride + dil * (kernel - 1) + 1 - input);
            int th = Total(shape[2], k.H, s.H, d.H), tw = Total(shape[3], k.W, s.W, d.W);
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
            var w = a.Int("transB", 0) != 0 ? b : TransposeMatrix(b);
            if (alpha != 1f)
            {
                w = w.Clone();
                System.Numerics.Tensors.TensorPrimitives.Multiply(w.Span, alpha, w.Span);
            }
            Tensor? bias = null;
            if (ins.Count > 2 && ins[2].Length > 0)
            {
                var c = Constant(ins, 2, what);
                bias = new Tensor(w.Shape[0]);
                if (c.Length == 1) bias.Fill(c[0] * beta);
                else if (c.Length == bias.Length && (c.Rank == 1 || c.Shape[0] == 1)) System.Numerics.Tensors.TensorPrimitives.Multiply(c.Span, beta, bias.Span);
                else throw new NotSupportedException($"{what}: C of shape [{c.ShapeString}] is not a per-output bias.");
            }
            return Linear.FromWeights(w, bias);
        }

        private Layer ReadMatMul(List<string> ins, string what)
        {
            var b = Constant(ins, 1, what);
            if (b.Rank != 2) throw new NotSupportedException($"{what}: the weight must be 2-D; got [{b.ShapeString}].");
            return Linear.FromWeights(TransposeMatrix(b));
        }

        /// <summary>Add of a constant to the output of a bias-free Linear: a Linear with that bias, reading the same input.</summary>
        private void ReadBiasAdd(NodeProto node, List<string> ins, int active, string what)
        {
            if (ins.Count != 2 || !_writer.TryGetValue(ins[active], out var producer) || producer.Layer is not Linear { Bias: null } prev)
                throw new NotSupportedException($"{what}: only the bias Add after a MatMul, or the sum of two activations, is read.");
            var c = Constant(ins, 1 - active, what);
            if (c.Length != prev.OutFeatures) throw new NotSupportedException($"{what}: the bias has {c.Length} values; {prev.OutFeatures} expected.");
            AddNode(node, Linear.FromWeights(prev.Weight.Value, c), producer.Inputs);
        }

        /// <summary>
        /// Softmax over the last axis of [N, K]. On [N, C, …] with axis 1 before opset 13 the input is flattened to
        /// [N, C·…] first (so are the opset-13 semantics, one axis, when the axes after it are all 1):
        /// Flatten → Softmax → Reshape back.
        /// </summary>
        private Layer ReadSoftmax(bool log, int[] shape, Attributes a, string what)
        {
            long given = a.Int("axis", opset >= 13 ? -1 : 1), axis = given < 0 ? given + shape.Length : given;
            if (shape.Length == 2 && axis == 1) return new Softmax(log);
            if (shape.Length > 2 && axis == 1 && (opset < 13 || shape.Skip(2).All(d => d == 1)))
                return new Sequential(new Flatten(), new Softmax(log), new Reshape([.. shape.Skip(1)]));
            throw new NotSupportedException($"{what}: only a softmax over all axes after the batch axis is read (input [{string.Join(", ", shape)}], axis {given}, opset {opset}).");
        }

        private static Tensor TransposeMatrix(Tensor m)
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
