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
    private static double[] Naive(ElementwiseOp op, double[] a, int[] sa, double[] b, int[] sb, int[] sz)
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
