namespace MLConv.Export.Tests.Onnx;

/// <summary>Where the ONNX backend suite's conformance data lies: ../shared/conformance beside the clone (see its README).</summary>
internal static class ConformanceData
{
    /// <summary>The folder of one suite (e.g. "onnx-light-models"); the test is inconclusive when it is absent.</summary>
    public static string Suite(string name)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (!File.Exists(Path.Combine(dir.FullName, "MLConv.sln"))) continue;
            string suite = Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared", "conformance", name));
            if (!Directory.Exists(suite)) Assert.Inconclusive($"The conformance data is not at {suite}.");
            return suite;
        }
        Assert.Inconclusive("MLConv.sln was not found above the test binaries.");
        return "";
    }
}
