// The seeds' predefined filters (vertical, horizontal, Sobel x/y, blur, Laplacian) applied with MLConv's Conv2d.
// Usage: dotnet run --project samples/EdgeFilters [-- <image.png> [<output folder>]]
// Without an image it draws a test card (a disc, a square and a gradient). Writes one PNG per filter and
// filters.png: the input and every response side by side (|response| scaled to 0..255).
using MLConv.Training.Data;
using MLConv.Training.Layers;
using MLConv.Training.Tensors;

string output = args.Length > 1 ? args[1] : Path.Combine("artifacts", "edge-filters");
var (gray, w, h) = args.Length > 0 ? Load(args[0]) : TestCard(96, 128);
var x = Tensor.FromArray(gray, 1, 1, h, w);
var names = PredefinedFilters.All.Keys.ToArray();
var y = PredefinedFilters.Bank(names).Forward(x, training: false);

Directory.CreateDirectory(output);
int gap = 4, stripW = (names.Length + 1) * (w + gap) - gap;
var strip = new byte[stripW * h];
Paste(strip, stripW, 0, ToBytes(gray, absolute: false), w, h);
for (int k = 0; k < names.Length; k++)
{
    var response = y.Data.AsSpan(k * w * h, w * h).ToArray();
    var img = ToBytes(response, absolute: names[k] != "blur");
    Png.Write(Path.Combine(output, names[k] + ".png"), img, w, h, 1);
    Paste(strip, stripW, (k + 1) * (w + gap), img, w, h);
    Console.WriteLine($"{names[k],-10} min {response.Min(),8:F2}  max {response.Max(),8:F2}");
}
Png.Write(Path.Combine(output, "filters.png"), strip, stripW, h, 1);
Console.WriteLine($"Wrote {names.Length} filter responses and filters.png (input, {string.Join(", ", names)}) to {Path.GetFullPath(output)}");

static (float[] Gray, int W, int H) Load(string path)
{
    var png = Png.Read(path);
    var g = new float[png.Width * png.Height];
    for (int i = 0; i < g.Length; i++)
    {
        int o = i * png.Channels;
        g[i] = png.Channels >= 3 ? 0.299f * png.Pixels[o] + 0.587f * png.Pixels[o + 1] + 0.114f * png.Pixels[o + 2] : png.Pixels[o];
    }
    return (g, png.Width, png.Height);
}

static (float[] Gray, int W, int H) TestCard(int h, int w)
{
    var g = new float[w * h];
    for (int i = 0; i < h; i++)
    for (int j = 0; j < w; j++)
    {
        float v = 40 + 60f * j / w;
        if ((i - 48) * (i - 48) + (j - 36) * (j - 36) < 26 * 26) v = 230;
        if (i > 25 && i < 70 && j > 75 && j < 115) v = 10;
        g[i * w + j] = v;
    }
    return (g, w, h);
}

static byte[] ToBytes(float[] v, bool absolute)
{
    var a = absolute ? v.Select(Math.Abs).ToArray() : v;
    float lo = absolute ? 0 : a.Min(), hi = Math.Max(a.Max(), lo + 1e-6f);
    return [.. a.Select(t => (byte)Math.Clamp((int)MathF.Round(255 * (t - lo) / (hi - lo)), 0, 255))];
}

static void Paste(byte[] dst, int dstW, int x0, byte[] src, int w, int h)
{
    for (int i = 0; i < h; i++) src.AsSpan(i * w, w).CopyTo(dst.AsSpan(i * dstW + x0, w));
}
