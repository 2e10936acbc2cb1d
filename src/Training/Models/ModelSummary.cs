using System.Globalization;
using System.Text;
using MLConv.Training.Layers;

namespace MLConv.Training.Models;

/// <summary>One row of a <see cref="ModelSummary"/>.</summary>
public sealed record SummaryRow(string Path, int Depth, string Layer, int[] OutputShape, long Parameters, long MultiplyAccumulates, Size2 ReceptiveField);

/// <summary>
/// Per-layer output shape, parameter count, multiply-accumulates and receptive field, with totals
/// (as torchinfo or Keras' summary). Receptive field along an axis: r ← r + (k_eff − 1)·j, j ← j·s,
/// starting from r = j = 1 at the input; a residual block, or a graph node joining branches, takes the larger of its branches.
/// </summary>
public sealed class ModelSummary
{
    /// <summary>One row per layer under the root, depth first in forward order (a root Sequential itself has no row; nested composites have one before their children).</summary>
    public required IReadOnlyList<SummaryRow> Rows { get; init; }
    /// <summary>The input shape the summary was computed for, [N, C, H, W].</summary>
    public required int[] InputShape { get; init; }
    /// <summary>The root's output shape for <see cref="InputShape"/>.</summary>
    public required int[] OutputShape { get; init; }
    /// <summary>Trainable scalars of the whole tree.</summary>
    public long TotalParameters { get; init; }
    /// <summary>Multiply-accumulates of one forward pass of the whole tree at <see cref="InputShape"/> (all N samples).</summary>
    public long TotalMultiplyAccumulates { get; init; }

    /// <summary>Walks <paramref name="root"/> for an input of <paramref name="inputShape"/> and collects the rows and totals.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="root"/> is null.</exception>
    public static ModelSummary Create(Layer root, int[] inputShape)
    {
        ArgumentNullException.ThrowIfNull(root);
        var rows = new List<SummaryRow>();
        var state = new Rf(1, 1, 1, 1);
        var output = Walk(root, "", 0, inputShape, ref state, rows, isRoot: true);
        return new ModelSummary
        {
            Rows = rows,
            InputShape = (int[])inputShape.Clone(),
            OutputShape = output,
            TotalParameters = root.AllParameters().Sum(p => (long)p.Value.Length),
            TotalMultiplyAccumulates = root.MultiplyAccumulates(inputShape),
        };
    }

    private record struct Rf(int RH, int RW, int JH, int JW);

    private static int[] Walk(Layer layer, string path, int depth, int[] input, ref Rf rf, List<SummaryRow> rows, bool isRoot = false)
    {
        switch (layer)
        {
            case Sequential seq:
            {
                int rowIndex = rows.Count;
                var s = input;
                for (int i = 0; i < seq.Count; i++)
                    s = Walk(seq[i], Join(path, i.ToString(CultureInfo.InvariantCulture)), isRoot ? depth : depth + 1, s, ref rf, rows);
                if (!isRoot) rows.Insert(rowIndex, new SummaryRow(path, depth, "Sequential", s, 0, 0, (rf.RH, rf.RW)));
                return s;
            }
            case Frozen frozen:
                return Walk(frozen.Inner, Join(path, "inner"), depth, input, ref rf, rows, isRoot);
            case Residual res:
            {
                int rowIndex = rows.Count;
                var body = rf;
                var y = Walk(res.Body, Join(path, "body"), depth + 1, input, ref body, rows);
                var sc = rf;
                if (res.Shortcut is not null) Walk(res.Shortcut, Join(path, "shortcut"), depth + 1, input, ref sc, rows);
                rf = new Rf(Math.Max(body.RH, sc.RH), Math.Max(body.RW, sc.RW), body.JH, body.JW);
                rows.Insert(rowIndex, new SummaryRow(path, depth, res.ToString(), y, 0, Product(y), (rf.RH, rf.RW)));
                return y;
            }
            case Graph graph:
            {
                // Each value carries its receptive field; where branches join, the larger one (and the coarser jump) wins.
                int rowIndex = rows.Count;
                int childDepth = isRoot ? depth : depth + 1;
                var shapes = new Dictionary<string, int[]>(StringComparer.Ordinal) { [graph.Input] = input };
                var fields = new Dictionary<string, Rf>(StringComparer.Ordinal) { [graph.Input] = rf };
                foreach (var node in graph.Nodes)
                {
                    var r = node.Inputs.Select(v => fields[v]).Aggregate((a, b) =>
                        new Rf(Math.Max(a.RH, b.RH), Math.Max(a.RW, b.RW), Math.Max(a.JH, b.JH), Math.Max(a.JW, b.JW)));
                    string p = Join(path, node.Name);
                    int[] y;
                    if (node.Layer is MultiInputLayer m)
                    {
                        int[][] ins = [.. node.Inputs.Select(v => shapes[v])];
                        y = m.OutputShape(ins);
                        rows.Add(new SummaryRow(p, childDepth, m.ToString(), y, m.Parameters.Sum(q => (long)q.Value.Length), m.MultiplyAccumulates(ins), (r.RH, r.RW)));
                    }
                    else if (node.Layer is MultiOutputLayer mo)
                    {
                        var ys = mo.OutputShapes(shapes[node.Inputs[0]]);
                        for (int k = 1; k < ys.Count; k++) (shapes[node.Outputs[k]], fields[node.Outputs[k]]) = (ys[k], r);
                        y = ys[0];
                        rows.Add(new SummaryRow(p, childDepth, mo.ToString(), y, mo.Parameters.Sum(q => (long)q.Value.Length), mo.MultiplyAccumulates(shapes[node.Inputs[0]]), (r.RH, r.RW)));
                    }
                    else y = Walk(node.Layer, p, childDepth, shapes[node.Inputs[0]], ref r, rows);
                    shapes[node.Output] = y;
                    fields[node.Output] = r;
                }
                rf = fields[graph.Output];
                var output = shapes[graph.Output];
                if (!isRoot) rows.Insert(rowIndex, new SummaryRow(path, depth, graph.ToString(), output, 0, 0, (rf.RH, rf.RW)));
                return output;
            }
            default:
            {
                var y = layer.OutputShape(input);
                var (k, s) = layer.SpatialWindow(input);
                rf = new Rf(rf.RH + (k.H - 1) * rf.JH, rf.RW + (k.W - 1) * rf.JW, rf.JH * s.H, rf.JW * s.W);
                rows.Add(new SummaryRow(path, depth, layer.ToString(), y, layer.Parameters.Sum(p => (long)p.Value.Length),
                    layer.MultiplyAccumulates(input), (rf.RH, rf.RW)));
                return y;
            }
        }
    }

    private static string Join(string a, string b) => a.Length == 0 ? b : a + "." + b;
    private static long Product(int[] s) { long p = 1; foreach (int d in s) p *= d; return p; }

    /// <summary>A fixed-width table: one line per row (indented by depth) with output shape, parameters, MACs and receptive field, then the totals.</summary>
    public override string ToString()
    {
        var sb = new StringBuilder();
        string Line(string a, string b, string c, string d, string e) => $"{a,-58} {b,-18} {c,12} {d,14} {e,9}";
        sb.AppendLine(Line("Layer (path)", "Output shape", "Params", "Mult-adds", "RF"));
        sb.AppendLine(new string('=', 115));
        foreach (var r in Rows)
        {
            string name = new string(' ', 2 * r.Depth) + r.Layer;
            if (name.Length > 44) name = name[..43] + "…";
            sb.AppendLine(Line($"{name} ({r.Path})", "[" + string.Join(", ", r.OutputShape) + "]",
                r.Parameters == 0 ? "--" : r.Parameters.ToString("N0", CultureInfo.InvariantCulture),
                r.MultiplyAccumulates == 0 ? "--" : r.MultiplyAccumulates.ToString("N0", CultureInfo.InvariantCulture),
                $"{r.ReceptiveField.H}x{r.ReceptiveField.W}"));
        }
        sb.AppendLine(new string('=', 115));
        sb.AppendLine(CultureInfo.InvariantCulture, $"Input: [{string.Join(", ", InputShape)}]  Output: [{string.Join(", ", OutputShape)}]");
        sb.AppendLine(CultureInfo.InvariantCulture, $"Total params: {TotalParameters:N0} ({TotalParameters * 4 / 1024.0 / 1024.0:F2} MiB float32)");
        sb.AppendLine(CultureInfo.InvariantCulture, $"Total mult-adds: {TotalMultiplyAccumulates:N0} ({TotalMultiplyAccumulates / 1e6:F2} M)");
        return sb.ToString();
    }
}
