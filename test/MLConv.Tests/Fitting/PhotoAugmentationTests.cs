using MLConv.Tests.Reference;
using MLConv.Training.Fitting;
using MLConv.Training.Models;
using MLConv.Training.Tensors;

namespace MLConv.Tests.Fitting;

/// <summary>The photo augmentations: the crop's resampling against a naive bilinear reference, the jitter's formulas, and seeded, deterministic training runs.</summary>
[TestClass]
public sealed class PhotoAugmentationTests
{
    /// <summary>Bilinear sampling with half-pixel centres, written per output pixel from the definition.</summary>
    private static double NaiveSample(double[] img, int c, int h, int w, int top, int left, int bh, int bw, int y, int x)
    {
        double sy = Math.Clamp((y + 0.5) * bh / h - 0.5, 0, bh - 1), sx = Math.Clamp((x + 0.5) * bw / w - 0.5, 0, bw - 1);
        int y0 = (int)Math.Floor(sy), x0 = (int)Math.Floor(sx), y1 = Math.Min(y0 + 1, bh - 1), x1 = Math.Min(x0 + 1, bw - 1);
        double fy = sy - y0, fx = sx - x0;
        double At(int yy, int xx) => img[(c * h + top + yy) * w + left + xx];
        return (1 - fy) * ((1 - fx) * At(y0, x0) + fx * At(y0, x1)) + fy * ((1 - fx) * At(y1, x0) + fx * At(y1, x1));
    }

    [TestMethod]
    [DataRow(0, 0, 7, 9)]    // the whole image: the identity
    [DataRow(2, 3, 4, 5)]    // upscaled box
    [DataRow(1, 0, 6, 1)]    // one column wide
    [DataRow(6, 8, 1, 1)]    // one pixel
    public void ResizeBoxMatchesNaiveBilinear(int top, int left, int bh, int bw)
    {
        const int c = 2, h = 7, w = 9;
        var src = GradCheck.Random([c, h, w], new Random(top * 10 + left));
        var dst = new float[c * h * w];
        Augmentation.ResizeBox(src.Span, dst, c, h, w, top, left, bh, bw);
        var img = GradCheck.ToDouble(src);
        for (int ch = 0; ch < c; ch++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    Assert.AreEqual(NaiveSample(img, ch, h, w, top, left, bh, bw, y, x), dst[(ch * h + y) * w + x], 1e-5, $"({ch}, {y}, {x})");
        if (bh == h && bw == w) CollectionAssert.AreEqual(src.Span.ToArray(), dst);
    }

    [TestMethod]
    public void RandomCropsStayInsideTheImageAndVaryWithTheStream()
    {
        const int c = 1, h = 16, w = 16;
        var ramp = new float[h * w];
        for (int i = 0; i < ramp.Length; i++) ramp[i] = i % w;   // value = column
        var a = new float[ramp.Length];
        var b = new float[ramp.Length];
        var rng = new Random(3);
        Augmentation.RandomResizedCrop(ramp, a, c, h, w, 0.3, rng);
        Augmentation.RandomResizedCrop(ramp, b, c, h, w, 0.3, rng);
        Assert.IsTrue(a.All(v => v >= 0 && v <= w - 1), "interpolated values stay within the image's");
        CollectionAssert.AreNotEqual(a, b, "two draws give two crops");
        var again = new float[ramp.Length];
        Augmentation.RandomResizedCrop(ramp, again, c, h, w, 0.3, new Random(3));
        CollectionAssert.AreEqual(a, again, "the same seed gives the same crop");
    }

    [TestMethod]
    public void ColorJitterFollowsItsFormulas()
    {
        const int plane = 6;
        var img = GradCheck.Random([3, 2, 3], new Random(5));
        var x = img.Span.ToArray();

        // Brightness: one factor f in [0.7, 1.3] scales every pixel.
        var bright = (float[])x.Clone();
        Augmentation.ColorJitter(bright, 3, plane, 0.3, 0, 0, new Random(1));
        double f = bright[0] / x[0];
        Assert.IsTrue(f is >= 0.7 and <= 1.3);
        for (int i = 0; i < x.Length; i++) Assert.AreEqual(f * x[i], bright[i], 1e-5);

        // Contrast keeps the mean grey.
        static double MeanGrey(float[] v) => Enumerable.Range(0, plane).Average(i => 0.299 * v[i] + 0.587 * v[plane + i] + 0.114 * v[2 * plane + i]);
        var contrast = (float[])x.Clone();
        Augmentation.ColorJitter(contrast, 3, plane, 0, 0.5, 0, new Random(2));
        Assert.AreEqual(MeanGrey(x), MeanGrey(contrast), 1e-5);
        CollectionAssert.AreNotEqual(x, contrast);

        // Saturation keeps each pixel's grey; a grey image is left as it is.
        var sat = (float[])x.Clone();
        Augmentation.ColorJitter(sat, 3, plane, 0, 0, 1, new Random(4));
        for (int i = 0; i < plane; i++)
            Assert.AreEqual(0.299 * x[i] + 0.587 * x[plane + i] + 0.114 * x[2 * plane + i], 0.299 * sat[i] + 0.587 * sat[plane + i] + 0.114 * sat[2 * plane + i], 1e-5);
        var grey = Enumerable.Repeat(0.25f, 3 * plane).ToArray();
        Augmentation.ColorJitter(grey, 3, plane, 0, 0, 1, new Random(4));
        Assert.IsTrue(grey.All(v => Math.Abs(v - 0.25f) < 1e-6));
    }

    private static (Tensor X, int[] Y) Data() =>
        (GradCheck.Random([24, 3, 10, 10], new Random(8)), [.. Enumerable.Range(0, 24).Select(i => i % 3)]);

    private static float[] Train(TrainerOptions o)
    {
        var net = Architectures.SimpleCnn(3, 10, 10, 3, widths: [4], hidden: 8, seed: 2);
        var (x, y) = Data();
        new Trainer(o).Fit(net, x, y);
        return [.. net.Parameters.SelectMany(p => p.Value.Span.ToArray())];
    }

    [TestMethod]
    public void AugmentedTrainingIsSeededAndDeterministic()
    {
        TrainerOptions Options(double crop, double jitter) => new()
            { Epochs = 2, BatchSize = 8, Seed = 6, RandomShift = 0, RandomCropScale = crop, Brightness = jitter, Contrast = jitter, Saturation = jitter };
        var plain = Train(Options(1, 0));
        var augmented = Train(Options(0.6, 0.3));
        CollectionAssert.AreEqual(augmented, Train(Options(0.6, 0.3)), "same seed, same weights");
        CollectionAssert.AreNotEqual(plain, augmented, "the augmentations change what the network sees");
        CollectionAssert.AreNotEqual(augmented, Train(Options(0.6, 0)), "colour jitter alone changes it too");
    }

    [TestMethod]
    public void OutOfRangeOptionsAreRefused()
    {
        Assert.AreEqual("RandomCropScale", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new TrainerOptions { RandomCropScale = 0 }.Validate()).ParamName);
        Assert.AreEqual("RandomCropScale", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new TrainerOptions { RandomCropScale = 1.5 }.Validate()).ParamName);
        Assert.AreEqual("Brightness", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new TrainerOptions { Brightness = 1 }.Validate()).ParamName);
        Assert.AreEqual("Contrast", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new TrainerOptions { Contrast = -0.1 }.Validate()).ParamName);
        Assert.AreEqual("Saturation", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new TrainerOptions { Saturation = double.NaN }.Validate()).ParamName);
    }
}
