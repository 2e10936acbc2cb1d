using MLConv.Export.Onnx;
using Onnx;

namespace MLConv.Transforms;

/// <summary>
/// Two checks added to the scoring graph (<see cref="OnnxScoringGraph"/>) that ONNX Runtime evaluates, so that they
/// travel with the model through <c>mlContext.Model.Save</c>/<c>Load</c> — ML.NET keeps no data of MLConv's own in the zip:
/// <list type="number">
/// <item><b>Non-finite rows.</b> A row whose features hold NaN or ±∞ gets NaN probabilities (Σ x·0 over the row is NaN
/// exactly then, added to every probability); without it ONNX Runtime's max pooling skips a NaN pixel and the row gets
/// a confident score. The arg-max mapping then rejects or flags the row (<see cref="NonFiniteFeatures"/>).</item>
/// <item><b>Weights checksum.</b> For every float initializer W the graph computes Σᵢ (q(Wᵢ)·(i·K + 1) mod P) in int64
/// (P = 2³¹ − 1; no step overflows), q(w) = trunc(w·2ˢ) in double with s chosen from max|W| so that every bit of every weight above 2⁻²⁹ of
/// the largest counts, and compares it with the value computed here at export. All of it reads only initializers, so
/// ONNX Runtime folds it to one constant when the session is created (no per-row cost). A changed weight — a bit flipped
/// in the saved zip — makes the check false: the probabilities become NaN and the extra output
/// <c>integrity</c> 0, on which the arg-max mapping throws "corrupted". The check covers the weights (nearly all
/// the bytes); a flip in the graph's structure is left to ONNX Runtime's own model checks.</item>
/// </list>
/// </summary>
internal static class ScoringSafeguards
{
    private const long Mixer = 0x9E3779B1;   // odd, < 2³²: i·K + 1 stays below 2⁶³ for any tensor
    private const long Prime = 2147483647;   // 2³¹ − 1: residues multiply below 2⁶², and 2³¹ of them sum below 2⁶²

    /// <summary>
    /// Adds both checks to <paramref name="model"/> in place: <paramref name="probabilitiesName"/> keeps its name and
    /// shape; a new output <paramref name="integrityName"/> [1] is 1 when the weights are intact.
    /// </summary>
    public static void Add(ModelProto model, string inputName, string probabilitiesName, string integrityName)
    {
        var g = model.Graph;
        long opset = model.OpsetImport.Where(o => o.Domain is "" or "ai.onnx").Select(o => o.Version).DefaultIfEmpty(0).Max();
        var input = g.Input.Single(i => i.Name == inputName);
        long features = input.Type.TensorType.Shape.Dim[1].DimValue;
        var names = new HashSet<string>(g.Node.SelectMany(n => n.Input.Concat(n.Output)).Concat(g.Initializer.Select(t => t.Name))
            .Concat(g.Input.Select(v => v.Name)).Concat(g.Output.Select(v => v.Name)), StringComparer.Ordinal);
        string Fresh(string name)
        {
            string n = name;
            for (int k = 1; !names.Add(n); k++) n = $"{name}_{k}";
            return n;
        }
        NodeProto Node(string op, string[] inputs, string output, params AttributeProto[] attributes)
        {
            var node = new NodeProto { Name = Fresh("/mlconv_check/" + op), OpType = op };
            node.Input.AddRange(inputs);
            node.Output.Add(output);
            node.Attribute.AddRange(attributes);
            g.Node.Add(node);
            return node;
        }
        string Value(string name) => Fresh(name);

        var weights = g.Initializer.Where(OnnxTensors.IsFloat).ToList();

        // 1. Non-finite rows: marks [N, 1] = (x · 0) · ones, NaN for a row holding NaN or ±∞, else 0.
        string zero = Fresh("mlconv_zero"), ones = Fresh("mlconv_ones"), nan = Fresh("mlconv_nan");
        g.Initializer.Add(OnnxTensors.FromFloats(zero, [0f]));
        g.Initializer.Add(OnnxTensors.FromFloats(ones, Enumerable.Repeat(1f, (int)features).ToArray(), features, 1));
        g.Initializer.Add(OnnxTensors.FromFloats(nan, [float.NaN]));
        string zeroed = Value("mlconv_x_times_0"), marks = Value("mlconv_row_marks");
        Node("Mul", [inputName, zero], zeroed);
        Node("MatMul", [zeroed, ones], marks);

        // 2. Weights checksum, folded by ONNX Runtime into one boolean at session creation.
        string? ok = null;
        foreach (var w in weights) ok = Checksum(w, opset, ok);

        // The probabilities' producer writes a fresh value; probabilities = Where(ok, p + marks, NaN).
        string raw = Value("mlconv_probabilities_unchecked");
        foreach (var node in g.Node)
            for (int i = 0; i < node.Output.Count; i++) if (node.Output[i] == probabilitiesName) node.Output[i] = raw;
        string marked = Value("mlconv_probabilities_marked");
        Node("Add", [raw, marks], marked);
        if (ok is null)
        {
            Node("Identity", [marked], probabilitiesName);
            ok = Value("mlconv_true");
            g.Initializer.Add(new TensorProto { Name = ok, DataType = (int)TensorProto.Types.DataType.Bool, Int32Data = { 1 } });
        }
        else Node("Where", [ok, marked, nan], probabilitiesName);
        string okFloat = Value("mlconv_integrity_scalar"), shape1 = Fresh("mlconv_shape_1");
        g.Initializer.Add(new TensorProto { Name = shape1, DataType = (int)TensorProto.Types.DataType.Int64, Dims = { 1 }, Int64Data = { 1 } });
        Node("Cast", [ok], okFloat, IntAttribute("to", (int)TensorProto.Types.DataType.Float));
        Node("Reshape", [okFloat, shape1], integrityName);
        g.Output.Add(new ValueInfoProto
        {
            Name = integrityName,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor
                { ElemType = (int)TensorProto.Types.DataType.Float, Shape = new TensorShapeProto { Dim = { new TensorShapeProto.Types.Dimension { DimValue = 1 } } } } },
        });

        string Checksum(TensorProto w, long opsetVersion, string? okSoFar)
        {
            var values = OnnxTensors.ToTensor(w).Span;
            double scale = Scale(values);
            long expected = Expected(values, scale, positional: opsetVersion >= 11);
            string scaleName = Fresh(w.Name + "_mlconv_scale"), expectedName = Fresh(w.Name + "_mlconv_checksum"), flatShape = Fresh(w.Name + "_mlconv_flat");
            g.Initializer.Add(new TensorProto { Name = scaleName, DataType = (int)TensorProto.Types.DataType.Double, DoubleData = { scale } });
            g.Initializer.Add(new TensorProto { Name = expectedName, DataType = (int)TensorProto.Types.DataType.Int64, Int64Data = { expected } });
            g.Initializer.Add(new TensorProto { Name = flatShape, DataType = (int)TensorProto.Types.DataType.Int64, Dims = { 1 }, Int64Data = { -1 } });
            string d = Value(w.Name + "_mlconv_double"), scaled = Value(w.Name + "_mlconv_scaled"), q = Value(w.Name + "_mlconv_q"),
                flat = Value(w.Name + "_mlconv_q_flat"), sum = Value(w.Name + "_mlconv_sum"), same = Value(w.Name + "_mlconv_intact");
            Node("Cast", [w.Name], d, IntAttribute("to", (int)TensorProto.Types.DataType.Double));
            Node("Mul", [d, scaleName], scaled);
            Node("Cast", [scaled], q, IntAttribute("to", (int)TensorProto.Types.DataType.Int64));
            Node("Reshape", [q, flatShape], flat);
            // Every product and sum stays below 2⁶²: ONNX Runtime's int64 Mul and ReduceSum saturate rather than wrap.
            string p = Fresh(w.Name + "_mlconv_p"), residue = Value(w.Name + "_mlconv_q_mod_p");
            g.Initializer.Add(new TensorProto { Name = p, DataType = (int)TensorProto.Types.DataType.Int64, Int64Data = { Prime } });
            Node("Mod", [flat, p], residue);
            string summed = residue;
            if (opsetVersion >= 11)
            {
                // Position weights (i·K + 1) mod P from Range: a value moved within the tensor changes the sum too.
                string start = Fresh(w.Name + "_mlconv_0"), limit = Fresh(w.Name + "_mlconv_n"), step = Fresh(w.Name + "_mlconv_1"), k = Fresh(w.Name + "_mlconv_k");
                g.Initializer.Add(new TensorProto { Name = start, DataType = (int)TensorProto.Types.DataType.Int64, Int64Data = { 0 } });
                g.Initializer.Add(new TensorProto { Name = limit, DataType = (int)TensorProto.Types.DataType.Int64, Int64Data = { values.Length } });
                g.Initializer.Add(new TensorProto { Name = step, DataType = (int)TensorProto.Types.DataType.Int64, Int64Data = { 1 } });
                g.Initializer.Add(new TensorProto { Name = k, DataType = (int)TensorProto.Types.DataType.Int64, Int64Data = { Mixer } });
                string range = Value(w.Name + "_mlconv_i"), ik = Value(w.Name + "_mlconv_ik"), weight = Value(w.Name + "_mlconv_pos"),
                    weightModP = Value(w.Name + "_mlconv_pos_mod_p"), weighted = Value(w.Name + "_mlconv_weighted"), weightedModP = Value(w.Name + "_mlconv_weighted_mod_p");
                Node("Range", [start, limit, step], range);
                Node("Mul", [range, k], ik);
                Node("Add", [ik, step], weight);
                Node("Mod", [weight, p], weightModP);
                Node("Mul", [residue, weightModP], weighted);
                Node("Mod", [weighted, p], weightedModP);
                summed = weightedModP;
            }
            Node("ReduceSum", [summed], sum, IntAttribute("keepdims", 0));
            Node("Equal", [sum, expectedName], same);
            if (okSoFar is null) return same;
            string both = Value("mlconv_weights_intact");
            Node("And", [okSoFar, same], both);
            return both;
        }
    }

    /// <summary>
    /// Removes what <see cref="Add"/> wrote (its nodes, the integrity output and the constants only they read), leaving the
    /// network's own nodes; the probabilities keep the name <see cref="Add"/> gave their producer. For readers that turn the
    /// scoring graph back into a network.
    /// </summary>
    public static void Strip(ModelProto model)
    {
        var g = model.Graph;
        var added = g.Node.Where(n => n.Name.StartsWith("/mlconv_check/", StringComparison.Ordinal)).ToList();
        if (added.Count == 0) return;
        var produced = added.SelectMany(n => n.Output).ToHashSet(StringComparer.Ordinal);
        foreach (var n in added) g.Node.Remove(n);
        foreach (var o in g.Output.Where(o => produced.Contains(o.Name)).ToList()) g.Output.Remove(o);
        var read = g.Node.SelectMany(n => n.Input).ToHashSet(StringComparer.Ordinal);
        foreach (var t in g.Initializer.Where(t => !read.Contains(t.Name) && t.Name.Contains("mlconv_", StringComparison.Ordinal)).ToList()) g.Initializer.Remove(t);
    }

    /// <summary>2ˢ with max|w|·2ˢ below 2⁵², so trunc(w·2ˢ) is exact in double and keeps every bit of the larger weights.</summary>
    internal static double Scale(ReadOnlySpan<float> values)
    {
        float max = 0;
        foreach (float v in values) if (float.IsFinite(v)) max = Math.Max(max, Math.Abs(v));
        return max == 0 ? 1 : Math.ScaleB(1.0, 51 - Math.ILogB((double)max));
    }

    /// <summary>Σ ((trunc(wᵢ·scale) mod P)·((i·K + 1) mod P) mod P), mod with the divisor's sign (ONNX Mod, fmod = 0), as ONNX Runtime computes it.</summary>
    internal static long Expected(ReadOnlySpan<float> values, double scale, bool positional)
    {
        long sum = 0;
        for (int i = 0; i < values.Length; i++)
        {
            long r = Mod(Truncate(values[i] * scale));
            sum += positional ? Mod(r * Mod(i * Mixer + 1)) : r;
        }
        return sum;
    }

    private static long Mod(long v) => (v % Prime + Prime) % Prime;

    private static AttributeProto IntAttribute(string name, long value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    /// <summary>double → int64 as ONNX Runtime's Cast does on x64 (cvttsd2si: out of range and NaN give long.MinValue).</summary>
    private static long Truncate(double v) => v >= -9.2233720368547758e18 && v < 9.2233720368547758e18 ? (long)v : long.MinValue;
}
