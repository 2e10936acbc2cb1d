using System.CommandLine;
using System.Globalization;
using MLConv.Training.Data;
using MLConv.Training.Layers;
using MLConv.Training.Tensors;

namespace MLConv.Cli.Commands;

/// <summary>
/// <c>mlconv filters &lt;image&gt;</c>: the seeds' predefined 3x3 filters (<see cref="PredefinedFilters"/>) applied with
/// MLConv's Conv2d to the image in gray; one PNG per filter (|response| scaled to 0..255; the blur as it is) and
/// filters.png, the input and every response side by side.
/// </summary>
internal static class FiltersCommand
{
    public static Command Create(CliContext ctx)
    {
        var image = new Argument<string>("image") { Description = "PNG, JPEG or BMP file" };
        var output = CliOptions.Required("--out", "Folder to write the PNGs into", "folder");
        var filter = CliOptions.Choice("--filter", "all", ["all", .. PredefinedFilters.All.Keys], "Which filter");
        var command = new Command("filters", "Apply the predefined filters (vertical, horizontal, Sobel x/y, blur, Laplacian) to an image; write PNGs.")
        {
            image, output, filter,
        };
        command.SetAction(r =>
        {
            var decoded = ImageDecoder.Read(r.GetValue(image)!);
            int w = decoded.Width, h = decoded.Height;
            var gray = new float[w * h];
            ImagePixels.ToPlanar(decoded, 1, h, w, gray);
            string[] names = r.GetValue(filter) is "all" or null ? [.. PredefinedFilters.All.Keys] : [r.GetValue(filter)!];
            var responses = PredefinedFilters.Bank(names).Forward(Tensor.FromArray(gray, 1, 1, h, w), training: false);

            string folder = r.GetValue(output)!;
            int gap = 4, stripW = (names.Length + 1) * (w + gap) - gap;
            var strip = new byte[stripW * h];
            Paste(strip, stripW, 0, ToBytes(gray, absolute: false), w, h);
            var table = Tables.Create("filter", "min", "max", "file").RightAligned(1, 2);
            for (int k = 0; k < names.Length; k++)
            {
                var response = responses.Data.AsSpan(k * w * h, w * h).ToArray();
                var bytes = ToBytes(response, absolute: names[k] != "blur");
                string file = Path.Combine(folder, names[k] + ".png");
                Png.Write(file, bytes, w, h, 1);
                Paste(strip, stripW, (k + 1) * (w + gap), bytes, w, h);
                table.Row(names[k], response.Min().ToString("F3", CultureInfo.InvariantCulture), response.Max().ToString("F3", CultureInfo.InvariantCulture), file);
            }
            string all = Path.Combine(folder, "filters.png");
            Png.Write(all, strip, stripW, h, 1);
            ctx.Console.Write(table);
            ctx.Line($"Wrote {all}: the input and {string.Join(", ", names)} side by side");
            return Cli.Ok;
        });
        return command;
    }

    /// <summary>Values (or their magnitudes) scaled linearly from their range to 0..255.</summary>
    private static byte[] ToBytes(float[] v, bool absolute)
    {
        var a = absolute ? v.Select(MathF.Abs).ToArray() : v;
        float lo = absolute ? 0 : a.Min(), hi = Math.Max(a.Max(), lo + 1e-6f);
        return [.. a.Select(t => (byte)Math.Clamp((int)MathF.Round(255 * (t - lo) / (hi - lo)), 0, 255))];
    }

    private static void Paste(byte[] dst, int dstW, int x0, byte[] src, int w, int h)
    {
        for (int i = 0; i < h; i++) src.AsSpan(i * w, w).CopyTo(dst.AsSpan(i * dstW + x0, w));
    }
}
