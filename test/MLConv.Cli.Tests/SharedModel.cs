using MLConv.Tests.Data;

namespace MLConv.Cli.Tests;

/// <summary>One tiny folder and one model trained on it (LeNet-5, 16x16 RGB, 2 epochs), shared by the tests that only read them.</summary>
[TestClass]
public static class SharedModel
{
    private static readonly Lazy<(TinyImages Images, TempFolder Out, string Model)> State = new(() =>
    {
        var images = new TinyImages();
        var output = new TempFolder();
        string model = output["model.mlconv"];
        CliRunner.Ok("train", "--data", images.Root, "--arch", "LeNet5", "--size", "16", "--epochs", "2", "--batch", "8", "--out", model);
        return (images, output, model);
    });

    internal static TinyImages Images => State.Value.Images;
    public static string Model => State.Value.Model;
    internal static TempFolder Output => State.Value.Out;

    [AssemblyCleanup]
    public static void Cleanup()
    {
        if (!State.IsValueCreated) return;
        State.Value.Images.Dispose();
        State.Value.Out.Dispose();
    }
}
