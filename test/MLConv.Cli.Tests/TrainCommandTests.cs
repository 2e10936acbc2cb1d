using System.Text.Json.Nodes;
using MLConv.Tests.Data;
using MLConv.Training.Data;
using MLConv.Training.Models;

namespace MLConv.Cli.Tests;

[TestClass]
public sealed class TrainCommandTests
{
    [TestMethod]
    public void TrainsOnAMixedJpegPngBmpFolderAndWritesModelHistoryAndSplit()
    {
        using var images = new TinyImages();
        using var output = new TempFolder();
        string model = output["m.mlconv"];
        var r = CliRunner.Ok("train", "--data", images.Root, "--size", "16x12", "--epochs", "2", "--batch", "8", "--out", model);

        StringAssert.Contains(r.Out, "bars/notes.txt: not a PNG, JPEG or BMP file");
        StringAssert.Contains(r.Out, "13 train / 3 test images");
        StringAssert.Contains(r.Out, "read as RGB 16x12");
        StringAssert.Contains(r.Out, "epoch 2/2");
        StringAssert.Contains(r.Out, "Test accuracy");
        var net = ModelFile.Load(model);
        CollectionAssert.AreEqual(TinyImages.Classes, net.ClassNames.ToArray());
        Assert.AreEqual((3, 12, 16), (net.Channels, net.Height, net.Width));

        var csv = File.ReadAllLines(output["m.history.csv"]);
        Assert.AreEqual(Training.Fitting.TrainingHistoryFile.CsvHeader, csv[0]);
        Assert.AreEqual(3, csv.Length);
        StringAssert.StartsWith(csv[2], "2,");
        var json = JsonNode.Parse(File.ReadAllText(output["m.history.json"]))!;
        Assert.AreEqual(2, json["epochs"]!.AsArray().Count);
        Assert.AreEqual(double.Parse(csv[2].Split(',')[1], System.Globalization.CultureInfo.InvariantCulture), (double)json["epochs"]![1]!["loss"]!);

        var split = ImageSplit.Read(output["m.split.txt"]);
        Assert.AreEqual((13, 3), (split.Train.Count, split.Test.Count));
        Assert.IsFalse(File.Exists(output["m.checkpoint.mlconv"]), "a finished run removes its default checkpoint");
    }

    [TestMethod]
    public void GrayAndASplitFileAreHonoured()
    {
        using var images = new TinyImages();
        using var output = new TempFolder();
        string splitFile = output["split.txt"];
        File.WriteAllLines(splitFile, ["# mine", "train bars/00.jpg", "train bars/01.PNG", "train rings/00.jpg", "train rings/01.PNG", "test bars/02.Jpeg", "test rings/03.bmp"]);
        var r = CliRunner.Ok("train", "--data", images.Root, "--split", splitFile, "--color", "gray", "--size", "14", "--epochs", "1", "--out", output["g.mlconv"]);
        StringAssert.Contains(r.Out, "4 train / 2 test images");
        Assert.AreEqual(1, ModelFile.Load(output["g.mlconv"]).Channels);
    }

    [TestMethod]
    public void MixedSizesWithoutSizeAreResizedTo32()
    {
        using var images = new TinyImages(perClass: 4);
        using var output = new TempFolder();
        var r = CliRunner.Ok("train", "--data", images.Root, "--epochs", "1", "--test-fraction", "0", "--out", output["m.mlconv"]);
        StringAssert.Contains(r.Out, "4 different sizes; resizing them to 32x32");
        Assert.AreEqual(32, ModelFile.Load(output["m.mlconv"]).Height);
    }

    [TestMethod]
    public void AnEmptyClassFolderFailsNamingIt()
    {
        using var images = new TinyImages(perClass: 2);
        Directory.CreateDirectory(images["empty"]);
        var r = CliRunner.Run("train", "--data", images.Root, "--epochs", "1");
        Assert.AreEqual(Cli.Failure, r.ExitCode, r.ToString());
        Assert.AreEqual(1, r.ErrLines.Length, r.Err);
        StringAssert.Contains(r.Err, Path.Combine(images.Root, "empty"));
    }

    [TestMethod]
    public void AFailureIsOneLineAndTheStackTraceComesWithVerbose()
    {
        var plain = CliRunner.Run("train", "--data", "/no/such/folder");
        Assert.AreEqual(Cli.Failure, plain.ExitCode);
        Assert.AreEqual(1, plain.ErrLines.Length, plain.Err);
        StringAssert.Contains(plain.Err, "mlconv train: Image folder not found: '/no/such/folder'");
        var verbose = CliRunner.Run("train", "--data", "/no/such/folder", "--verbose");
        Assert.AreEqual(Cli.Failure, verbose.ExitCode);
        Assert.IsTrue(verbose.ErrLines.Length > 2, verbose.Err);
        StringAssert.Contains(verbose.Err, "at MLConv.");
    }

    [TestMethod]
    [DataRow(new[] { "--optimizer", "7" }, "--optimizer: '7' is not one of adam, sgd.")]
    [DataRow(new[] { "--schedule", "9" }, "--schedule: '9' is not one of constant, step, cosine, onecycle.")]
    [DataRow(new[] { "--optimizer", "rmsprop" }, "adam, sgd")]
    [DataRow(new[] { "--color", "sepia" }, "auto, gray, rgb")]
    [DataRow(new[] { "--arch", "VGG99" }, "LeNet5, SimpleCNN, ResNet, MobileNetV2, ResNet20")]
    [DataRow(new[] { "--threads", "0" }, "--threads must be in [1, 1024]; got 0.")]
    [DataRow(new[] { "--epochs", "0" }, "--epochs must be in [1, 100000]; got 0.")]
    [DataRow(new[] { "--lr", "0" }, "--lr must be in (0, 10]; got 0.")]
    [DataRow(new[] { "--epochs", "many" }, "--epochs")]
    [DataRow(new[] { "--size", "0x3" }, "--size: '0x3' is not a size")]
    [DataRow(new[] { "--no-such-option" }, "--no-such-option")]
    [DataRow(new[] { "--fine-tune", "maybe" }, "'maybe'")]
    [DataRow(new[] { "--fine-tune" }, "--fine-tune and --cut-at apply to a --pretrained base.")]
    public void UsageErrorsExitWith2AndSayWhatIsWrong(string[] extra, string expected)
    {
        using var images = new TinyImages(perClass: 1);
        var r = CliRunner.Run(["train", "--data", images.Root, .. extra]);
        Assert.AreEqual(Cli.Usage, r.ExitCode, r.ToString());
        StringAssert.Contains(r.Err, expected);
    }

    [TestMethod]
    public void HelpVersionAndMissingPiecesAreUsage()
    {
        var help = CliRunner.Run("train", "--help");
        Assert.AreEqual(Cli.Ok, help.ExitCode, help.ToString());
        StringAssert.Contains(help.Out, "--data");
        StringAssert.Contains(help.Out, "adam|sgd");
        var version = CliRunner.Run("--version");
        Assert.AreEqual(Cli.Ok, version.ExitCode, version.ToString());
        StringAssert.Matches(version.Out.Trim(), new System.Text.RegularExpressions.Regex(@"^\d+\.\d+\.\d+"));
        Assert.AreEqual(Cli.Usage, CliRunner.Run("train").ExitCode, "--data is required");
        Assert.AreEqual(Cli.Usage, CliRunner.Run().ExitCode, "a command is required");
        Assert.AreEqual(Cli.Usage, CliRunner.Run("fly").ExitCode);
        Assert.AreEqual(Cli.Ok, CliRunner.Run("--help").ExitCode);
    }

    [TestMethod]
    public void CtrlCLeavesTheLastEpochsCheckpointExits130AndResumeFinishesTheRun()
    {
        using var images = new TinyImages();
        using var output = new TempFolder();
        using var cancel = new CancellationTokenSource();
        string model = output["m.mlconv"], checkpoint = output["m.checkpoint.mlconv"];
        string[] args = ["train", "--data", images.Root, "--size", "16", "--epochs", "3", "--batch", "4", "--out", model];
        var r = CliRunner.Run(cancel.Token, text => { if (text.Contains("epoch 1/3:")) cancel.Cancel(); }, args);

        Assert.AreEqual(Cli.Interrupted, r.ExitCode, r.ToString());
        Assert.AreEqual(1, r.ErrLines.Length, r.Err);
        StringAssert.Contains(r.Err, $"the checkpoint of epoch 1 is {checkpoint}");
        StringAssert.Contains(r.Err, "--resume");
        Assert.IsFalse(File.Exists(model), "an interrupted run writes no model");
        Assert.AreEqual(2, ModelFile.Load(checkpoint).NumClasses, "the checkpoint is a complete model file");
        Assert.AreEqual(0, Directory.GetFiles(output.Path, "*.tmp").Length, "no temp file is left behind");

        var resumed = CliRunner.Ok([.. args, "--resume", checkpoint]);
        StringAssert.DoesNotMatch(resumed.Out, new System.Text.RegularExpressions.Regex("epoch 1/3:"));
        StringAssert.Contains(resumed.Out, "epoch 3/3:");
        Assert.AreEqual(4, File.ReadAllLines(output["m.history.csv"]).Length, "the history holds all three epochs");
    }

    [TestMethod]
    public void APretrainedMlconvBaseTrainsAFrozenHeadOrFineTunes()
    {
        using var output = new TempFolder();
        var frozen = CliRunner.Ok("train", "--data", SharedModel.Images.Root, "--pretrained", SharedModel.Model, "--epochs", "2", "--out", output["f.mlconv"]);
        StringAssert.Contains(frozen.Out, "frozen base, training the head's");
        var head = ModelFile.Load(output["f.mlconv"]);
        var base_ = ModelFile.Load(SharedModel.Model);
        Assert.AreEqual("LeNet5+head", head.Architecture);
        Assert.AreEqual((base_.Channels, base_.Height, base_.Width), (head.Channels, head.Height, head.Width), "the base decides the input");
        CollectionAssert.AreEqual(base_.Normalization.Mean, head.Normalization.Mean, "the base's normalisation is kept");

        var tuned = CliRunner.Ok("train", "--data", SharedModel.Images.Root, "--pretrained", SharedModel.Model, "--fine-tune", "--epochs", "1", "--out", output["t.mlconv"]);
        StringAssert.Contains(tuned.Out, "fine-tuning all");
        Assert.AreEqual(Cli.Failure, CliRunner.Run("train", "--data", SharedModel.Images.Root, "--pretrained", output["absent.onnx"]).ExitCode);
        Assert.AreEqual(Cli.Usage, CliRunner.Run("train", "--data", SharedModel.Images.Root, "--pretrained", SharedModel.Model, "--color", "gray").ExitCode);
    }

    [TestMethod]
    public void ABaseNormalisedFor0To255PixelsIsRescaledToTheCliUnitPixels()
    {
        var resnet = new Normalization([123.15f, 115.9f, 103.06f], [1f, 1f, 1f]);
        var unit = Commands.TrainCommand.ToUnitPixels(resnet);
        var x = new Training.Tensors.Tensor(1, 3, 1, 1);
        var y = new Training.Tensors.Tensor(1, 3, 1, 1);
        for (int c = 0; c < 3; c++) { x[c] = 0.5f; y[c] = 0.5f * 255; }
        unit.Apply(x);
        resnet.Apply(y);
        for (int c = 0; c < 3; c++) Assert.AreEqual(y[c], x[c], 1e-3f, "the same transform of the same picture");
        var cli = new Normalization([0.4f], [0.2f]);
        Assert.AreSame(cli, Commands.TrainCommand.ToUnitPixels(cli), "a base measured on 0..1 pixels is kept");
    }

    [TestMethod]
    public void TheLiveProgressDisplayTrainsToo()
    {
        using var output = new TempFolder();
        var o = new StringWriter();
        var e = new StringWriter();
        int rc = Cli.Run(["train", "--data", SharedModel.Images.Root, "--pretrained", SharedModel.Model, "--epochs", "2", "--out", output["p.mlconv"]],
            o, e, CancellationToken.None, interactive: true);
        Assert.AreEqual(Cli.Ok, rc, o + "\n" + e);
        StringAssert.Contains(o.ToString(), "epoch 2/2:");
        StringAssert.Contains(o.ToString(), "features of 13 training images");
        Assert.IsTrue(File.Exists(output["p.mlconv"]));
    }
}
