using MLConv.Tests.Reference;
using MLConv.Training.Layers;
using MLConv.Training.Tensors;

namespace MLConv.Tests.Layers;

/// <summary>
/// The activations against their textbook formulas in double: finite-difference gradients on random inputs, the
/// derivative just beside each kink (where a wrong branch condition shows), and the subgradient chosen at the kink itself.
/// </summary>
[TestClass]
public sealed class ActivationTests
{
    private const double SeluAlpha = 1.6732632423543772, SeluLambda = 1.0507009873554805;

    private static double Sigma(double x) => 1 / (1 + Math.Exp(-x));
    private static double HardSigma(double x, double a, double b) => Math.Clamp(a * x + b, 0, 1);

    /// <summary>Each layer with its reference f and the points where f′ jumps (bounds chosen inside the random inputs' [−1, 1]).</summary>
    private static readonly Dictionary<string, (Func<Layer> Build, Func<double, double> F, double[] Kinks)> Cases = new()
    {
        ["LeakyReLU"] = (() => new LeakyReLU(0.1), x => x > 0 ? x : 0.1 * x, [0]),
        ["ELU"] = (() => new ELU(0.7), x => x > 0 ? x : 0.7 * (Math.Exp(x) - 1), [0]),
        ["SELU"] = (() => new SELU(), x => SeluLambda * (x > 0 ? x : SeluAlpha * (Math.Exp(x) - 1)), [0]),
        ["Sigmoid"] = (() => new Sigmoid(), Sigma, []),
        ["Tanh"] = (() => new Tanh(), Math.Tanh, []),
        ["Softplus"] = (() => new Softplus(), x => Math.Log(1 + Math.Exp(x)), []),
        ["Softsign"] = (() => new Softsign(), x => x / (1 + Math.Abs(x)), [0]),
        ["Abs"] = (() => new Abs(), Math.Abs, [0]),
        ["Clip"] = (() => new Clip(-0.5, 0.3), x => Math.Clamp(x, -0.5, 0.3), [-0.5, 0.3]),
        ["ClipBelow"] = (() => new Clip(min: -0.2), x => Math.Max(x, -0.2), [-0.2]),
        ["ReLU6"] = (Clip.ReLU6, x => Math.Clamp(x, 0, 6), [0, 6]),
        ["HardSigmoid"] = (() => new HardSigmoid(0.6, 0.5), x => HardSigma(x, 0.6, 0.5), [-0.5 / 0.6, 0.5 / 0.6]),
        ["HardSigmoidDefault"] = (() => new HardSigmoid(), x => HardSigma(x, 1.0 / 6, 0.5), [-3, 3]),
        ["HardSwish"] = (() => new HardSwish(), x => x * HardSigma(x, 1.0 / 6, 0.5), [-3, 3]),
        ["SiLU"] = (() => new SiLU(), x => x * Sigma(x), []),
    };

    public static IEnumerable<object[]> Names => Cases.Keys.Select(k => new object[] { k });

    [TestMethod]
    [DynamicData(nameof(Names))]
    public void Gradients(string name)
    {
        var (build, f, _) = Cases[name];
        GradCheck.Run(build(), [2, 3, 4, 5], (x, _) => [.. x.Select(f)], seed: name.Length);
    }

    /// <summary>At kink ± 1e-3 (beyond the difference step): the analytic derivative is the one-sided slope.</summary>
    [TestMethod]
    [DynamicData(nameof(Names))]
    public void DerivativeBesideEachKink(string name)
    {
        var (build, f, kinks) = Cases[name];
        if (kinks.Length == 0) kinks = [-2, 0, 2];
        double[] points = [.. kinks.SelectMany(k => new[] { k - 1e-3, k + 1e-3 })];
        var layer = build();
        var x = Tensor.FromArray([.. points.Select(p => (float)p)], 1, points.Length);
        layer.Forward(x, training: true);
        var ones = new Tensor(1, points.Length);
        ones.Fill(1f);
        var dx = layer.Backward(ones);
        for (int i = 0; i < points.Length; i++)
        {
            double p = x[i], h = 1e-6;
            double numeric = (f(p + h) - f(p - h)) / (2 * h);
            Assert.AreEqual(numeric, dx[i], 1e-3 * Math.Max(1, Math.Abs(numeric)), $"{name}: f′({p})");
        }
    }

    /// <summary>On a kink the subgradient is PyTorch's: the left slope for the rectifiers, 0 for |x| and on a clamp's bounds, Hardswish's x/3 + 1/2 on ±3.</summary>
    [TestMethod]
    [DataRow("LeakyReLU", 0f, 0.1f)]
    [DataRow("ELU", 0f, 0.7f)]
    [DataRow("Abs", 0f, 0f)]
    [DataRow("Clip", -0.5f, 0f)]
    [DataRow("Clip", 0.3f, 0f)]
    [DataRow("ReLU6", 0f, 0f)]
    [DataRow("ReLU6", 6f, 0f)]
    [DataRow("HardSigmoidDefault", -3f, 0f)]
    [DataRow("HardSigmoidDefault", 3f, 0f)]
    [DataRow("HardSwish", -3f, -0.5f)]
    [DataRow("HardSwish", 3f, 1.5f)]
    public void SubgradientOnTheKink(string name, float at, float expected)
    {
        var layer = Cases[name].Build();
        layer.Forward(Tensor.FromArray([at], 1, 1), training: true);
        Assert.AreEqual(expected, layer.Backward(Tensor.FromArray([1f], 1, 1))[0], 1e-6f);
    }

    [TestMethod]
    public void PReLUPerChannelGradients()
    {
        const int n = 2, c = 3, plane = 4 * 5;
        GradCheck.Run(new PReLU(c), [n, c, 4, 5], (x, p) =>
            [.. x.Select((v, i) => v > 0 ? v : p[0][i / plane % c] * v)], seed: 5);
    }

    [TestMethod]
    public void PReLUSharedSlopeGradients() =>
        GradCheck.Run(new PReLU(), [4, 7], (x, p) => [.. x.Select(v => v > 0 ? v : p[0][0] * v)], seed: 6);

    [TestMethod]
    public void PReLUStartsAtItsInitAndTakesNoDecay()
    {
        var p = new PReLU(3, init: 0.1);
        p.Weight.Value.Fill(2f);
        p.Reset(new Random(1));
        CollectionAssert.AreEqual(new[] { 0.1f, 0.1f, 0.1f }, p.Weight.Value.Span.ToArray());
        Assert.IsFalse(p.Weight.Decay);
    }

    [TestMethod]
    public void StableForLargeInputs()
    {
        var x = Tensor.FromArray([-1000f, -90f, 90f, 1000f], 1, 4);
        foreach (var layer in new Layer[] { new Softplus(), new Sigmoid(), new SiLU(), new ELU(), new SELU(), new Tanh() })
        {
            var y = layer.Forward(x, true);
            var dx = layer.Backward(Tensor.FromArray([1f, 1f, 1f, 1f], 1, 4));
            Assert.IsTrue(y.Span.ToArray().Concat(dx.Span.ToArray()).All(float.IsFinite), layer.ToString());
        }
        Assert.AreEqual(1000f, new Softplus().Forward(x, true)[3]);
    }

    [TestMethod]
    public void ArgumentsAreValidated()
    {
        Assert.AreEqual("negativeSlope", Assert.Throws<ArgumentOutOfRangeException>(() => new LeakyReLU(double.NaN)).ParamName);
        Assert.AreEqual("alpha", Assert.Throws<ArgumentOutOfRangeException>(() => new ELU(double.PositiveInfinity)).ParamName);
        Assert.AreEqual("beta", Assert.Throws<ArgumentOutOfRangeException>(() => new HardSigmoid(0.2, double.NaN)).ParamName);
        Assert.AreEqual("max", Assert.Throws<ArgumentOutOfRangeException>(() => new Clip(1, 0)).ParamName);
        Assert.AreEqual("min", Assert.Throws<ArgumentOutOfRangeException>(() => new Clip(double.PositiveInfinity)).ParamName);
        Assert.AreEqual("numParameters", Assert.Throws<ArgumentOutOfRangeException>(() => new PReLU(0)).ParamName);
        Assert.AreEqual("x", Assert.Throws<ArgumentException>(() => new PReLU(3).Forward(new Tensor(1, 4, 2, 2), false)).ParamName);
        Assert.AreEqual("x", Assert.Throws<ArgumentException>(() => new PReLU(3).Forward(new Tensor(1, 3), false)).ParamName);
        Assert.Throws<InvalidOperationException>(() => new Sigmoid().Backward(new Tensor(1, 3)));
    }

    [TestMethod]
    public void SpecsRoundTrip()
    {
        foreach (var layer in Cases.Values.Select(c => c.Build()).Append(new PReLU(4, 0.2)))
        {
            var again = LayerFactory.FromSpec(layer.ToSpec());
            Assert.AreEqual(layer.GetType(), again.GetType());
            Assert.AreEqual(layer.ToSpec().ToJsonString(), again.ToSpec().ToJsonString());
        }
        Assert.AreEqual("""{"type":"Clip","min":-0.2}""", new Clip(min: -0.2).ToSpec().ToJsonString());
    }
}
