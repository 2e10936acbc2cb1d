using MLConv.Tests.Reference;
using MLConv.Training.Layers;
using MLConv.Training.Tensors;

namespace MLConv.Tests.Layers;

/// <summary>
/// <see cref="Elementwise"/> against a naive double-precision reference that broadcasts by explicit index arithmetic:
/// the forward, and both input gradients against central finite differences of the reference (h = 1e-4).
/// </summary>
[TestClass]
public sealed class ElementwiseTests
{
    /// <summary>z[o] = a[i(o)] ∘ b[j(o)], with i(o), j(o) found by aligning the shapes at the last axis.</summary>
    internal static double[] Naive(ElementwiseOp op, double[] a, int[] sa, double[] b, int[] sb, int[] sz)
    {
        int r = sz.Length;
        var z = new double[sz.Aggregate(1, (p, d) => p * d)];
        var coord = new int[r];
        for (int o = 0; o < z.Length; o++)
        {
            for (int d = r - 1, rest = o; d >= 0; d--) { coord[d] = rest % sz[d]; rest /= sz[d]; }
            static int At(int[] coord, int[] shape)
            {
                int i = 0, off = coord.Length - shape.Length;
                for (int d = 0; d < shape.Length; d++) i = i * shape[d] + (shape[d] == 1 ? 0 : coord[d + off]);
                return i;
            }
            double p = a[At(coord, sa)], q = b[At(coord, sb)];
            z[o] = op switch { ElementwiseOp.Add => p + q, ElementwiseOp.Sub => p - q, ElementwiseOp.Mul => p * q, _ => p / q };
        }
        return z;
    }

    [TestMethod]
    [DataRow(ElementwiseOp.Add, new[] { 2, 3, 4, 5 }, new[] { 2, 3, 1, 1 })]
    [DataRow(ElementwiseOp.Sub, new[] { 2, 3, 1, 5 }, new[] { 2, 1, 4, 1 })]
    [DataRow(ElementwiseOp.Mul, new[] { 2, 3, 4, 5 }, new[] { 2, 3, 1, 1 })]
    [DataRow(ElementwiseOp.Mul, new[] { 4, 6 }, new[] { 4, 6 })]
    [DataRow(ElementwiseOp.Div, new[] { 2, 3, 4, 5 }, new[] { 3, 1, 5 })]
    [DataRow(ElementwiseOp.Div, new[] { 2, 1, 1, 1 }, new[] { 2, 3, 4, 5 })]
    public void ForwardAndGradientsMatchTheReference(ElementwiseOp op, int[] sa, int[] sb)
    {
        var rng = new Random(11 + (int)op);
        var a = GradCheck.Random(sa, rng);
        var b = GradCheck.Random(sb, rng);
        // Keep divisors away from 0 (|b| in [0.5, 1.5]), where the quotient's finite differences would be meaningless.
        if (op == ElementwiseOp.Div) for (int i = 0; i < b.Length; i++) b[i] = MathF.CopySign(0.5f + MathF.Abs(b[i]), b[i]);
        var layer = new Elementwise(op);
        var z = layer.Forward([a, b], training: true);
        int[] sz = Elementwise.BroadcastShape(sa, sb);
        CollectionAssert.AreEqual(sz, z.ShapeArray);
        double[] ad = GradCheck.ToDouble(a), bd = GradCheck.ToDouble(b);
        GradCheck.AssertClose(Naive(op, ad, sa, bd, sb, sz), GradCheck.ToDouble(z), 1e-6, "forward");

        var dz = GradCheck.Random(sz, rng);
        double[] rd = GradCheck.ToDouble(dz);
        var grads = layer.BackwardMany(dz);
        double Loss(double[] x, double[] y) => Naive(op, x, sa, y, sb, sz).Select((v, i) => v * rd[i]).Sum();
        const double h = 1e-4;
        for (int which = 0; which < 2; which++)
        {
            var point = which == 0 ? ad : bd;
            var numeric = new double[point.Length];
            for (int i = 0; i < point.Length; i++)
            {
                double old = point[i];
                point[i] = old + h;
                double up = Loss(ad, bd);
                point[i] = old - h;
                double down = Loss(ad, bd);
                point[i] = old;
                numeric[i] = (up - down) / (2 * h);
            }
            CollectionAssert.AreEqual(which == 0 ? sa : sb, grads[which].ShapeArray, "the gradient has its input's shape");
            GradCheck.AssertClose(numeric, GradCheck.ToDouble(grads[which]), GradCheck.Tolerance, which == 0 ? "da" : "db");
        }
    }

    /// <summary>Squeeze-and-excitation inside a graph: y = x · pool(x), the gradient reaching x along both paths.</summary>
    [TestMethod]
    public void SqueezeExcitationGraphGradients()
    {
        var graph = new Graph("x",
        [
            new GraphNode("pool", new GlobalAvgPool2d(), ["x"], "s"),
            new GraphNode("scale", new Elementwise(ElementwiseOp.Mul), ["x", "s"], "y"),
        ], "y");
        const int n = 2, c = 3, h = 4, w = 5;
        GradCheck.Run(graph, [n, c, h, w], (x, _) =>
        {
            var s = Reference.Naive.GlobalAvg(x, n * c, h * w);
            return Naive(ElementwiseOp.Mul, x, [n, c, h, w], s, [n, c, 1, 1], [n, c, h, w]);
        }, seed: 5);
    }

    /// <summary>TensorOperand: x ∘ T (or T ∘ x) for a learnable T of any broadcastable shape; dT sums over the broadcast axes.</summary>
    [TestMethod]
    [DataRow(ElementwiseOp.Add, false, new[] { 2, 3, 4, 5 }, new[] { 4, 1 })]
    [DataRow(ElementwiseOp.Sub, true, new[] { 2, 3, 4, 5 }, new[] { 3, 4, 5 })]
    [DataRow(ElementwiseOp.Mul, false, new[] { 3, 2, 4 }, new[] { 1, 2, 4 })]
    [DataRow(ElementwiseOp.Mul, true, new[] { 2, 1, 4, 3 }, new[] { 3, 1, 3 })]
    [DataRow(ElementwiseOp.Add, false, new[] { 2, 2 }, new[] { 2, 2 })]
    public void TensorOperandGradients(ElementwiseOp op, bool valueFirst, int[] xs, int[] ts)
    {
        var layer = new TensorOperand(op, new Tensor(ts), valueFirst);
        int[] ys = Elementwise.BroadcastShape(xs, ts);
        CollectionAssert.AreEqual(ys, layer.OutputShape(xs));
        GradCheck.Run(layer, xs, (x, p) => valueFirst ? Naive(op, p[0], ts, x, xs, ys) : Naive(op, x, xs, p[0], ts, ys), seed: 31 + ts.Length);
    }

    [TestMethod]
    public void TensorOperandRefusesShapesItCannotTake()
    {
        var t = new TensorOperand(ElementwiseOp.Add, new Tensor(2, 3, 4, 5));
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => t.OutputShape([3, 4, 5])).Message, "more axes");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => new TensorOperand(ElementwiseOp.Mul, new Tensor(3, 2)).Forward(new Tensor(2, 3, 4), false)).Message, "broadcast");
        var spec = new TensorOperand(ElementwiseOp.Div, new Tensor(1, 3, 1), valueFirst: true).ToSpec();
        Assert.AreEqual(spec.ToJsonString(), LayerFactory.FromSpec(spec).ToSpec().ToJsonString());
        var reset = new TensorOperand(ElementwiseOp.Mul, Tensor.FromArray([5f, 6f], 2));
        reset.Reset(new Random(1));
        CollectionAssert.AreEqual(new[] { 1f, 1f }, reset.Value.Value.Span.ToArray(), "Reset makes a product the identity");
    }

    [TestMethod]
    public void ShapesThatDoNotBroadcastAreRefused()
    {
        var e = Assert.ThrowsExactly<ArgumentException>(() => new Elementwise(ElementwiseOp.Add).OutputShape([[2, 3, 4], [2, 4, 4]]));
        StringAssert.Contains(e.Message, "broadcast");
        Assert.ThrowsExactly<ArgumentException>(() => new Elementwise(ElementwiseOp.Add).OutputShape([[2, 3]]));
    }

    [TestMethod]
    public void SpecRoundTrips()
    {
        foreach (var op in Enum.GetValues<ElementwiseOp>())
        {
            var layer = (Elementwise)LayerFactory.FromSpec(new Elementwise(op).ToSpec());
            Assert.AreEqual(op, layer.Op);
        }
    }
}
