using Onnx;
using MLConv.Training.Layers;
using MLConv.Training.Tensors;

namespace MLConv.Export.Onnx;

/// <summary>A model read by <see cref="OnnxImporter"/>: its layers as a Sequential (a chain, or one <see cref="Graph"/>), its one input and the output read.</summary>
/// <param name="Root">The imported layers: a chain of layers, or one <see cref="Graph"/> for any other DAG.</param>
/// <param name="InputName">The name of the graph's one non-constant input (not an initializer).</param>
/// <param name="InputShape">The graph input's dims; a symbolic dimension is -1.</param>
/// <param name="OutputName">The (first) output read.</param>
/// <param name="Opset">The highest version the file imports for the default ("" or "ai.onnx") operator domain.</param>
/// <param name="IrVersion">The file's ONNX IR version (<c>ir_version</c>).</param>
public sealed record OnnxImportedModel(Sequential Root, string InputName, int[] InputShape, string OutputName, long Opset, long IrVersion)
{
    /// <summary>Every output read, in the file's order: one, or all of them when they do not lie on one path (then Root holds one Graph with these outputs).</summary>
    public IReadOnlyList<string> OutputNames { get; init; } = [OutputName];

    /// <summary>The values of <see cref="OutputNames"/> for <paramref name="x"/>, in order.</summary>
    /// <param name="x">The input batch, of <see cref="InputShape"/> (any batch size where it is -1).</param>
    /// <param name="training">Forward in training mode (batch statistics, dropout) rather than inference.</param>
    public IReadOnlyList<Tensor> ForwardAll(Tensor x, bool training = false) =>
        Root.Count == 1 && Root[0] is Graph { Outputs.Count: > 1 } g ? g.ForwardAll(x, training) : [Root.Forward(x, training)];
}

/// <summary>How <see cref="OnnxImporter"/> reads a model whose file pins sizes the network does not depend on.</summary>
public sealed record OnnxImportOptions
{
    /// <summary>
    /// The input's first dimension is the batch, whatever size the file fixes it to (CNTK and many converters write
    /// 1): <see cref="OnnxImportedModel.InputShape"/> reports it as −1. MLConv's layers take any batch either way;
    /// a Reshape whose target repeats the file's batch already reads as keeping the batch axis.
    /// </summary>
    public bool FreeBatch { get; init; }

    /// <summary>
    /// An AveragePool without padding whose window is the whole input map at the file's input size (CNTK's and
    /// Caffe's global pool, e.g. ResNet-18's 7×7 over its last 7×7 map) reads as <see cref="GlobalAvgPool2d"/>:
    /// identical at that size, and the network then accepts other image sizes (fine-tuning at a smaller size).
    /// </summary>
    public bool WholeWindowPoolingAsGlobal { get; init; }
}

/// <summary>
/// Reads an ONNX graph into MLConv layers. A chain (each node reads the previous activation) becomes a
/// <see cref="Sequential"/> of the layers; any other DAG becomes a Sequential holding one
/// <see cref="Graph"/> whose nodes and values keep the ONNX names. Operators: Conv → Conv2d, MaxPool →
/// MaxPool2d, AveragePool → AvgPool2d, GlobalAveragePool → GlobalAvgPool2d, BatchNormalization →
/// BatchNorm2d (running statistics loaded), Gemm or MatMul (+ Add of a constant bias) → Linear, Relu →
/// ReLU, LRN → LocalResponseNorm, Concat → Concat, Sum and Add of two activations of one shape → Sum, Mul, Sub,
/// Div and Add of two activations (broadcasting) → Elementwise, Reshape →
/// Reshape, Transpose → Transpose (both keeping the batch axis first), Flatten(axis 1) → Flatten,
/// Softmax/LogSoftmax → <see cref="Softmax"/> (over one axis, or with Flatten/Reshape around it for the legacy
/// semantics), Dropout and Identity → nothing.
/// Constant subgraphs are evaluated at import: initializers, Constant, ConstantOfShape, and every operator of
/// <see cref="OnnxConstantFolding"/> whose inputs are all constant (the light model zoo's weights are ConstantOfShape
/// nodes; exporters' shape chains and weight preprocessing fold away). Shape of an activation is a constant whose
/// batch entry is a mark Reshape reads as "keep the batch" (x.view(x.size(0), -1) imports as a Reshape).
/// Of several graph outputs the one computed from all the others is read (MLConv's own "probabilities"
/// after "logits"); nodes it does not depend on are dropped. Outputs that do not lie on one path are all read, as the
/// outputs of one Graph (<see cref="OnnxImportedModel.ForwardAll"/>). A node of several outputs (Split) is one Graph node. Legacy attributes of old opsets (is_test,
/// spatial = 1, broadcast, consumed_inputs) are accepted; anything else unknown is refused with a
/// <see cref="NotSupportedException"/> naming the node and its operator. <see cref="OnnxImportOptions"/> frees
/// sizes a file pins (a batch fixed at 1, a global pool written as a fixed-window AveragePool).
/// </summary>
public static class OnnxImporter
{
    /// <summary>Reads the ONNX model file at <paramref name="path"/> with the default <see cref="OnnxImportOptions"/>.</summary>
    /// <param name="path">The .onnx file.</param>
    /// <returns>The layers, the input's name and shape, and the output(s) read.</returns>
    /// <remarks>Throws as <see cref="Import(string, OnnxImportOptions?)"/> does.</remarks>
    public static OnnxImportedModel Import(string path) => Import(path, null);

    /// <summary>Reads the ONNX model file at <paramref name="path"/> into MLConv layers.</summary>
    /// <param name="path">The .onnx file.</param>
    /// <param name="options">How to read sizes the file pins; null for the defaults (nothing freed).</param>
    /// <returns>The layers, the input's name and shape, and the output(s) read.</returns>
    /// <exception cref="ArgumentException"><paramref name="path"/> is null, empty or white space.</exception>
    /// <exception cref="FileNotFoundException"><paramref name="path"/> is a folder or does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is not a valid ONNX model (truncated, corrupted, no graph, no opset_import).</exception>
    /// <exception cref="NotSupportedException">An operator, attribute or graph shape MLConv cannot read; the message names the node.</exception>
    public static OnnxImportedModel Import(string path, OnnxImportOptions? options)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (Directory.Exists(path)) throw new FileNotFoundException($"'{path}' is a folder, not an ONNX model file.", path);
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
        return Import(model, options, $"ONNX file '{path}'");
    }

    /// <summary>Reads an ONNX model already parsed in memory with the default <see cref="OnnxImportOptions"/>.</summary>
    /// <param name="model">The parsed model.</param>
    /// <returns>The layers, the input's name and shape, and the output(s) read.</returns>
    /// <remarks>Throws as <see cref="Import(ModelProto, OnnxImportOptions?)"/> does.</remarks>
    public static OnnxImportedModel Import(ModelProto model) => Import(model, null);

    /// <summary>Reads an ONNX model already parsed in memory into MLConv layers.</summary>
    /// <param name="model">The parsed model.</param>
    /// <param name="options">How to read sizes the file pins; null for the defaults (nothing freed).</param>
    /// <returns>The layers, the input's name and shape, and the output(s) read.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="model"/> is null.</exception>
    /// <exception cref="InvalidDataException">The model has no graph or no opset_import.</exception>
    /// <exception cref="NotSupportedException">An operator, attribute or graph shape MLConv cannot read; the message names the node.</exception>
    public static OnnxImportedModel Import(ModelProto model, OnnxImportOptions? options) => Import(model, options, "The ONNX model");

    /// <param name="model">The parsed model.</param>
    /// <param name="options">How to read pinned sizes (never null here).</param>
    /// <param name="what">The model in messages: its file when it came from one.</param>
    private static OnnxImportedModel Import(ModelProto model, OnnxImportOptions? options, string what)
    {
        ArgumentNullException.ThrowIfNull(model);
        options ??= new OnnxImportOptions();
        var graph = model.Graph ?? throw new InvalidDataException($"{what} has no graph: it is empty, cut short or not an ONNX model.");
        // ONNX Runtime refuses a model without opset_import ("Missing opset in the model"); reading it as opset 1 would guess.
        if (model.OpsetImport.Count == 0)
            throw new InvalidDataException($"{what} has no opset_import: every ONNX model must say which operator set it uses (cut short, or written by a broken exporter).");
        long opset = model.OpsetImport.Where(o => o.Domain is "" or "ai.onnx").Select(o => o.Version).DefaultIfEmpty(1).Max();

        var reader = new GraphReader(opset, options);
        foreach (var init in graph.Initializer) reader.AddInitializer(init);
        var inputs = graph.Input.Where(i => !reader.IsConstant(i.Name)).ToList();
        if (inputs.Count != 1)
            throw new NotSupportedException($"The graph has {inputs.Count} non-initializer inputs ({string.Join(", ", inputs.Take(5).Select(i => i.Name))}{(inputs.Count > 5 ? ", …" : "")}); one is supported.");
        var input = inputs[0];
        int[] inputShape = [.. (input.Type?.TensorType?.Shape?.Dim ?? [])
            .Select(d => d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue ? (int)d.DimValue : -1)];

        reader.SetInput(input.Name, [.. inputShape.Select(d => d < 0 ? 1 : d)]);
        if (options.FreeBatch && inputShape.Length > 0) inputShape[0] = -1;
        foreach (var node in graph.Node) reader.Read(node);
        var (root, outputs) = reader.Build([.. graph.Output.Select(o => o.Name)]);
        return new OnnxImportedModel(root, input.Name, inputShape, outputs[0], opset, model.IrVersion) { OutputNames = outputs };
    }

    /// <summary>A layer node read from ONNX: its (unique, dot-free) name, layer, activation inputs and outputs.</summary>
    private sealed record Pending(string Name, Layer Layer, string[] Inputs, string[] Outputs);

    private sealed class GraphReader(long opset, OnnxImportOptions options)
    {
        private readonly Dictionary<string, Tensor> _floats = new(StringComparer.Ordinal);
        private readonly Dictionary<string, (long[] Values, int[] Shape)> _ints = new(StringComparer.Ordinal);
        private readonly Dictionary<string, bool[]> _batchMarks = new(StringComparer.Ordinal);  // int constants holding the batch size (as 0)
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

        private OnnxNodeReader Reader(NodeProto node, string what, List<string> ins, List<int> active) =>
            new(node, what, opset, ins, active, [.. active.Select(i => _shapes[ins[i]])],
                n => _floats.GetValueOrDefault(n), n => _ints.TryGetValue(n, out var v) ? v : null,
                v => _writer.TryGetValue(v, out var p) ? new ImportedLayer(p.Layer, p.Inputs) : null) { Options = options };

        public void Read(NodeProto node)
        {
            var ins = node.Input.Select(Resolve).ToList();
            string what = $"node '{(node.Name.Length > 0 ? node.Name : string.Join(",", node.Output))}' ({node.OpType}, opset {opset})";
            try
            {
                if (node.Output.Count == 0 || node.Output[0].Length == 0) throw new NotSupportedException($"{what} has no output.");
                if (node.OpType == "Constant") { ReadConstant(node, what); return; }
                if (node.OpType == "ConstantOfShape") { ReadConstantOfShape(node, ins, what); return; }
                if (node.OpType == "Shape" && ins.Count == 1 && _shapes.TryGetValue(ins[0], out var activation))
                {
                    // The shape of an activation is known at import but for its batch size: dimension 0 becomes a batch mark.
                    var a = Reader(node, what, ins, []);
                    Put(node.Output[0], OnnxConstantFolding.Shape(a, activation, batch: true));
                    a.ThrowOnUnread();
                    return;
                }
                if (ins.Count > 0 && ins.All(n => n.Length == 0 || IsConstant(n)))
                {
                    Fold(node, ins, what);
                    return;
                }
                var active = Enumerable.Range(0, ins.Count).Where(i => ins[i].Length > 0 && !IsConstant(ins[i])).ToList();
                foreach (int i in active)
                    if (!_shapes.ContainsKey(ins[i]))
                        throw new NotSupportedException($"{what} reads '{ins[i]}', which is neither the graph input, a constant nor the output of an earlier node.");
                var reader = Reader(node, what, ins, active);
                ImportedLayer? read = null;
                OnnxLayerMapping? mapping = null;
                if (node.OpType == "Identity") read = reader.Single(null);
                foreach (var fusing in OnnxLayerMappings.FusingOperator(node.OpType))
                    if (read is null && fusing.TryFuse(reader) is { } fused) (read, mapping) = (fused, fusing);
                if (read is null)
                {
                    mapping = OnnxLayerMappings.ForOperator(node.OpType)
                        ?? throw new NotSupportedException($"{what}: operator {node.OpType} has no MLConv layer (read: {string.Join(", ", OnnxLayerMappings.Operators.Order(StringComparer.Ordinal))}).");
                    read = mapping.Import(reader);
                }
                reader.ThrowOnUnread();
                if (mapping?.IgnoresExtraOutputs != true && read.Layer is not MultiOutputLayer && node.Output.Skip(1).Any(o => o.Length > 0))
                    throw new NotSupportedException($"{what}: extra outputs ({string.Join(", ", node.Output.Skip(1))}) are not supported.");
                if (read.Layer is null) _alias[node.Output[0]] = read.Inputs[0];
                else AddNode(node, read.Layer, read.Inputs);
            }
            catch (ArgumentException e)
            {
                throw new NotSupportedException($"{what}: {e.Message}", e);
            }
        }

        /// <summary>Adds <paramref name="layer"/> as a pending graph node reading <paramref name="inputs"/>: records its output shapes and gives it a unique name (the node's, or its first output's, with '.' → '_').</summary>
        private void AddNode(NodeProto node, Layer layer, string[] inputs)
        {
            string output = node.Output[0];
            string[] outputs = layer is MultiOutputLayer ? [.. node.Output] : [output];
            int[][] shapes = [.. inputs.Select(v => _shapes[v])];
            if (layer is MultiOutputLayer mo)
            {
                var ys = mo.OutputShapes(shapes[0]);
                for (int k = 0; k < outputs.Length; k++) _shapes[outputs[k]] = ys[k];
            }
            else _shapes[output] = layer is MultiInputLayer m ? m.OutputShape(shapes) : layer.OutputShape(shapes[0]);
            string name = (node.Name.Length > 0 ? node.Name : output).Replace('.', '_');
            if (!_names.Add(name))
                for (int k = 1; ; k++)
                    if (_names.Add($"{name}_{k}")) { name = $"{name}_{k}"; break; }
            var pending = new Pending(name, layer, inputs, outputs);
            _nodes.Add(pending);
            foreach (var o in outputs) _writer[o] = pending;
        }

        /// <summary>The graph output computed from all the others, or else every output, with the nodes they depend on.</summary>
        public (Sequential Root, string[] OutputNames) Build(IReadOnlyList<string> graphOutputs)
        {
            if (graphOutputs.Count == 0) throw new NotSupportedException("The graph has no output.");
            foreach (var o in graphOutputs)
                if (IsConstant(Resolve(o))) throw new NotSupportedException($"The graph output '{o}' is a constant; only outputs computed from the input are read.");
                else if (!_shapes.ContainsKey(Resolve(o))) throw new NotSupportedException($"The graph output '{o}' is computed by no node.");
            var ancestors = graphOutputs.Select(o => Ancestors(Resolve(o))).ToList();
            int chosen = Enumerable.Range(0, graphOutputs.Count)
                .FirstOrDefault(i => graphOutputs.All(o => ancestors[i].Contains(Resolve(o))), -1);
            if (chosen < 0)
            {
                // Outputs on several paths: one Graph with all of them.
                string[] values = [.. graphOutputs.Select(Resolve)];
                if (values.Distinct(StringComparer.Ordinal).Count() != values.Length || values.Contains(_input))
                    throw new NotSupportedException($"The graph outputs ({string.Join(", ", graphOutputs)}) repeat a value or the input; distinct computed outputs are supported.");
                var all = _nodes.Where(n => n.Outputs.Any(o => ancestors.Any(a => a.Contains(o)))).ToList();
                return (new Sequential(new Graph(_input, all.Select(n => new GraphNode(n.Name, n.Layer, n.Inputs, n.Outputs)), values)), [.. graphOutputs]);
            }
            string output = Resolve(graphOutputs[chosen]);
            var keep = _nodes.Where(n => n.Outputs.Any(ancestors[chosen].Contains)).ToList();

            string current = _input;
            bool chain = true;
            foreach (var n in keep)
            {
                chain &= n.Layer is not (MultiInputLayer or MultiOutputLayer) && n.Inputs.Length == 1 && n.Inputs[0] == current;
                current = n.Outputs[0];
            }
            var root = chain && current == output
                ? new Sequential(keep.Select(n => n.Layer))
                : new Sequential(new Graph(_input, keep.Select(n => new GraphNode(n.Name, n.Layer, n.Inputs, n.Outputs)), output));
            return (root, [graphOutputs[chosen]]);
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
            long[] dims = Reader(node, what, ins, []).IntConstant(0);
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

        /// <summary>Evaluates a node over constants (<see cref="OnnxConstantFolding"/>).</summary>
        private void Fold(NodeProto node, List<string> ins, string what)
        {
            if (ins.Any(n => _opaque.Contains(n)))
                throw new NotSupportedException($"{what}: an input ({string.Join(", ", ins.Where(_opaque.Contains))}) has a data type the importer does not evaluate.");
            if (node.Output.Skip(1).Any(o => o.Length > 0))
                throw new NotSupportedException($"{what}: extra outputs ({string.Join(", ", node.Output.Skip(1))}) of a constant node are not supported.");
            var value = OnnxConstantFolding.Evaluate(Reader(node, what, ins, []), [.. ins.Select(Get)]);
            Put(node.Output[0], value);
        }

        private OnnxConstant? Get(string name) =>
            _floats.TryGetValue(name, out var t) ? OnnxConstant.FromTensor(t)
            : _ints.TryGetValue(name, out var i) ? OnnxConstant.FromInts(i.Values, i.Shape, _batchMarks.GetValueOrDefault(name))
            : null;

        private void Put(string name, OnnxConstant value)
        {
            if (value.IsInt)
            {
                _ints[name] = (value.ToInt64s(), value.Shape);
                if (value.Batch is { } marks) _batchMarks[name] = marks;
            }
            else _floats[name] = value.ToTensor();
        }
    }
}
