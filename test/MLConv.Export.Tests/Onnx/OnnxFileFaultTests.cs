using Google.Protobuf;
using MLConv.Export.Onnx;
using MLConv.Training.Layers;

namespace MLConv.Export.Tests.Onnx;

/// <summary>ONNX files that are cut short, folders, and models without opset_import: refused with the file named (docs/reliability.md).</summary>
[TestClass]
public sealed class OnnxFileFaultTests
{
    [TestMethod]
    public void EveryCutOfAnExportIsRefusedNamingTheFile()
    {
        using var dir = new TempFolder();
        byte[] bytes = OnnxExporter.ExportToBytes(new Sequential(new Conv2d(1, 2, 3), new Flatten(), new Linear(2 * 3 * 3, 3)), [1, 5, 5]);
        string path = dir["cut.onnx"];
        int refused = 0;
        // Every cut up to 40 bytes (the header fields), then every 7th: each must fail with the path, never import quietly.
        for (int cut = 0; cut < bytes.Length; cut += cut < 40 ? 1 : 7)
        {
            File.WriteAllBytes(path, bytes[..cut]);
            try
            {
                OnnxImporter.Import(path);
                Assert.Fail($"A file cut at {cut} of {bytes.Length} bytes imported.");
            }
            catch (Exception e) when (e is InvalidDataException or NotSupportedException or ArgumentException)
            {
                StringAssert.Contains(e.Message, path, $"cut at {cut}: {e.Message}");
                refused++;
            }
        }
        Assert.IsGreaterThan(40, refused);
    }

    [TestMethod]
    public void AModelWithoutOpsetImportIsRefusedAsOnnxRuntimeDoes()
    {
        var model = OnnxExporter.ToModel(new Sequential(new Flatten(), new Linear(4, 2)), [1, 2, 2]);
        model.OpsetImport.Clear();
        using var dir = new TempFolder();
        string path = dir["no-opset.onnx"];
        File.WriteAllBytes(path, model.ToByteArray());
        var e = Assert.ThrowsExactly<InvalidDataException>(() => OnnxImporter.Import(path));
        StringAssert.Contains(e.Message, "no opset_import");
        StringAssert.Contains(e.Message, path);
        Assert.ThrowsExactly<Microsoft.ML.OnnxRuntime.OnnxRuntimeException>(() => new Microsoft.ML.OnnxRuntime.InferenceSession(path).Dispose());
        StringAssert.Contains(Assert.ThrowsExactly<FileNotFoundException>(() => OnnxImporter.Import(dir.Path)).Message, "is a folder");
    }
}
