using MLConv.Tests.Data;
using MLConv.Training.Fitting;

namespace MLConv.Tests.Fitting;

[TestClass]
public sealed class TrainingHistoryFileTests
{
    private static readonly EpochMetrics[] History =
    [
        new(1, 2.302585092994046, 0.1125, 1.9, 0.30000000000000004, 0.0004, 1.25),
        new(2, 0.5, 0.875, null, null, 4e-3, 1.5e-7),
        new(3, 1e-12, 1, 0.25, 0.9375, 3.999e-3, 12),
    ];

    [TestMethod]
    public void CsvAndJsonReadBackToEqualRecords()
    {
        using var dir = new TempFolder();
        TrainingHistoryFile.WriteCsv(History, dir["h.csv"]);
        TrainingHistoryFile.WriteJson(History, dir["h.json"]);
        CollectionAssert.AreEqual(History, TrainingHistoryFile.ReadCsv(dir["h.csv"]).ToArray());
        CollectionAssert.AreEqual(History, TrainingHistoryFile.ReadJson(dir["h.json"]).ToArray());
        var lines = File.ReadAllLines(dir["h.csv"]);
        Assert.AreEqual(TrainingHistoryFile.CsvHeader, lines[0]);
        Assert.AreEqual("2,0.5,0.875,,,0.004,1.5E-07", lines[2]);
        StringAssert.Contains(File.ReadAllText(dir["h.json"]), "\"validation_loss\": null");
        Assert.AreEqual(2, Directory.GetFiles(dir.Path).Length, "no temp file left behind");
    }

    [TestMethod]
    public void ForeignFilesAreRejectedWithTheirName()
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir["bad.csv"], "epoch,loss\n1,2\n");
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => TrainingHistoryFile.ReadCsv(dir["bad.csv"])).Message, "bad.csv");
        File.WriteAllText(dir["short.csv"], TrainingHistoryFile.CsvHeader + "\n1,2,3\n");
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => TrainingHistoryFile.ReadCsv(dir["short.csv"])).Message, "line 2");
        File.WriteAllText(dir["bad.json"], "{\"runs\": []}");
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => TrainingHistoryFile.ReadJson(dir["bad.json"])).Message, "bad.json");
    }
}
