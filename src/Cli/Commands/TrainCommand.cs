using System.CommandLine;
using System.Diagnostics;
using MLConv.Export.Onnx;
using MLConv.Training.Data;
using MLConv.Training.Distributed;
using MLConv.Training.Fitting;
using MLConv.Training.Layers;
using MLConv.Training.Models;
using MLConv.Training.Tensors;

namespace MLConv.Cli.Commands;

/// <summary>
/// <c>mlconv train</c>: any image folder (one subfolder per class), a ready architecture or a pretrained base, the
/// trainer's options; saves the model, its history (CSV + JSON) and the split used. A checkpoint is written after every
/// epoch; Ctrl+C stops at the next batch and leaves the last one (exit code 130).
/// </summary>
internal static class TrainCommand
{
    /// <summary>The architectures <c>--arch</c> takes (<see cref="Architectures.Create"/> reads each).</summary>
    public static readonly IReadOnlyList<string> ArchitectureChoices = [.. Architectures.Names, "ResNet20"];

    public static Command Create(CliContext ctx)
    {
        var d = new TrainerOptions();
        var data = CliOptions.Required("--data", "Image folder: one subfolder per class of PNG, JPEG or BMP images", "folder");
        var arch = CliOptions.Choice("--arch", "LeNet5", ArchitectureChoices, "Architecture trained from scratch");
        var pretrained = CliOptions.Optional("--pretrained", $"Start from a pretrained base instead: {PretrainedNetwork.ResNet18} (the ImageNet ResNet-18 of {Export.Onnx.PretrainedModels.ResNet18Package}), an .onnx or an .mlconv file", "ResNet18|file");
        var cutAt = CliOptions.Optional("--cut-at", "The graph value of the pretrained base whose activations feed the new head (default: the features before its classifier)", "value");
        var fineTune = CliOptions.Flag("--fine-tune", "Train every layer of the pretrained base (default: the base stays frozen, its features are computed once and only the head trains)");
        var headDropout = CliOptions.Double("--head-dropout", 0.2, 0, 0.95, "Dropout before the pretrained base's new head");
        var size = CliOptions.Size("--size", "Resize every image to this (default: the pretrained base's size, else the images' common size, else 32x32)");
        var color = CliOptions.Enum("--color", ColorMode.Auto, "Read images as gray or RGB; auto: RGB when any image has colour (a pretrained base decides)");
        var split = CliOptions.Optional("--split", "Split file (lines \"train <class>/<file>\" / \"test <class>/<file>\"); default: <data>/split.txt when present, else --test-fraction", "file");
        var testFraction = CliOptions.Double("--test-fraction", 0.2, 0, 0.9, "Fraction of each class held out for testing when there is no split file (0: none)");
        var epochs = CliOptions.Int("--epochs", d.Epochs, 1, 100_000, "Epochs");
        var batch = CliOptions.Int("--batch", d.BatchSize, 1, 65_536, "Batch size");
        var lr = CliOptions.Double("--lr", d.LearningRate, 0, 10, "Base learning rate (the one-cycle peak)", minExclusive: true);
        var optimizer = CliOptions.Enum("--optimizer", d.Optimizer, "Optimizer");
        var schedule = CliOptions.Enum("--schedule", d.Schedule, "Learning-rate schedule");
        var weightDecay = CliOptions.Double("--weight-decay", d.WeightDecay, 0, 1, "L2 weight decay");
        var momentum = CliOptions.Double("--momentum", d.Momentum, 0, 0.999, "SGD momentum");
        var shift = CliOptions.Int("--shift", d.RandomShift, 0, 64, "Random shift augmentation in pixels (0: off)");
        var flip = CliOptions.Flag("--flip", "Random horizontal flips (photos, not digits)");
        var patience = CliOptions.OptionalInt("--early-stopping", 1, 10_000, "Stop when the test loss has not improved for this many epochs, and keep the best epoch's weights");
        var seed = CliOptions.Int("--seed", d.Seed, int.MinValue, int.MaxValue, "Seeds the split, the weights, shuffling and augmentation");
        var threads = CliOptions.OptionalInt("--threads", 1, 1024, "Compute threads (default: all cores; under mpirun, the cores shared out among the ranks on this machine)");
        var shards = CliOptions.OptionalInt("--gradient-shards", 1, 65_536, "Micro-shards per batch, each with its own forward/backward, summed in a fixed tree (default: 1, or the rank count under mpirun). The same value gives the same weights bit for bit with any rank count that divides it");
        var output = new Option<string>("--out") { Description = "Model file to write (default artifacts/model.mlconv); the history, split and checkpoint go beside it", DefaultValueFactory = _ => Path.Combine("artifacts", "model.mlconv"), HelpName = "file" };
        var checkpoint = CliOptions.Optional("--checkpoint", "Checkpoint written after every epoch (default: <out>.checkpoint.mlconv, removed after a finished run)", "file");
        var resume = CliOptions.Optional("--resume", "Continue from a checkpoint of an interrupted run with the same options", "file");

        var command = new Command("train", "Train on an image folder; save the model, its training history (CSV, JSON) and the split used.")
        {
            data, arch, pretrained, cutAt, fineTune, headDropout, size, color, split, testFraction, epochs, batch, lr, optimizer, schedule,
            weightDecay, momentum, shift, flip, patience, seed, threads, shards, output, checkpoint, resume,
        };
        command.SetAction(r =>
        {
            var options = new TrainerOptions
            {
                Epochs = r.GetValue(epochs), BatchSize = r.GetValue(batch), LearningRate = r.GetValue(lr), Optimizer = r.GetValue(optimizer),
                Schedule = r.GetValue(schedule), WeightDecay = r.GetValue(weightDecay), Momentum = r.GetValue(momentum),
                RandomShift = r.GetValue(shift), HorizontalFlip = r.GetValue(flip), EarlyStoppingPatience = r.GetValue(patience), Seed = r.GetValue(seed),
                GradientShards = r.GetValue(shards),
            };
            var request = new Request(r.GetValue(data)!, r.GetValue(arch)!, r.GetValue(pretrained), r.GetValue(cutAt), r.GetValue(fineTune), r.GetValue(headDropout),
                r.GetValue(size), r.GetValue(color), r.GetValue(split), r.GetValue(testFraction), options, r.GetValue(threads), r.GetValue(output)!,
                r.GetValue(checkpoint), r.GetValue(resume));
            return Run(ctx, request);
        });
        return command;
    }

    private sealed record Request(string Data, string Arch, string? Pretrained, string? CutAt, bool FineTune, double HeadDropout, ImageSize? Size,
        ColorMode Color, string? SplitFile, double TestFraction, TrainerOptions Options, int? Threads, string Output, string? Checkpoint, string? Resume);

    private static int Run(CliContext ctx, Request q)
    {
        if (q.Pretrained is null && (q.FineTune || q.CutAt is not null))
            throw new UsageException("--fine-tune and --cut-at apply to a --pretrained base.");
        if (q.Resume is not null && !File.Exists(q.Resume)) throw new FileNotFoundException($"Checkpoint not found: '{q.Resume}'.", q.Resume);
        // Under mpirun (or srun), this process is one rank of a data-parallel run: every rank trains on the same data and
        // split, the gradients are summed across ranks, and only rank 0 writes files and prints the summary.
        using var distributed = DistributedContext.FromEnvironment();
        bool root = distributed?.IsRoot ?? true;
        if (q.Threads is { } t) Training.Kernels.Parallelism.MaxThreads = t;
        else if (distributed is not null) Training.Kernels.Parallelism.MaxThreads = DistributedContext.SuggestedThreads();
        var clock = Stopwatch.StartNew();

        var folder = ImageData.Scan(ctx, q.Data);
        var (split, splitSource) = ChooseSplit(q, folder);
        var trainImages = folder.Select(split.Train);
        var testImages = split.Test.Count > 0 ? folder.Select(split.Test) : null;
        var pretrained = q.Pretrained is null ? null : PretrainedNetwork.Load(q.Pretrained, q.CutAt);
        int channels = pretrained?.Channels ?? ChooseChannels(q.Color, folder);
        if (pretrained is not null && q.Color != ColorMode.Auto && (q.Color == ColorMode.Gray ? 1 : 3) != channels)
            throw new UsageException($"--color {CliOptions.Lower(q.Color)} does not fit the pretrained base '{pretrained.Name}', which reads {channels}-channel images.");
        var size = q.Size ?? (pretrained is null ? CommonSize(ctx, folder) : new ImageSize(pretrained.Width, pretrained.Height));
        ctx.Line($"{q.Data}: {folder.ClassNames.Count} classes ({string.Join(", ", folder.ClassNames)}), {trainImages.Count} train / {testImages?.Count ?? 0} test images ({splitSource}); " +
                 $"read as {(channels == 1 ? "gray" : "RGB")} {size}");
        var train = trainImages.Load(channels, size.Height, size.Width, cancellationToken: ctx.CancellationToken);
        var test = testImages?.Load(channels, size.Height, size.Width, cancellationToken: ctx.CancellationToken);

        var run = Prepare(ctx, q, pretrained, train, test);
        var options = run.Options;
        string checkpoint = q.Checkpoint ?? Path.ChangeExtension(q.Output, ".checkpoint.mlconv");
        options.CheckpointPath = checkpoint;
        options.Communicator = distributed?.Communicator;
        if (root)
            ctx.Line($"{run.Description}; {Training.Kernels.Parallelism.MaxThreads} threads" +
                     (distributed is null ? "" : $" per rank, {distributed.Communicator.Size} ranks"));

        TrainingView? view = null;
        TrainingResult result;
        try
        {
            result = TrainingView.Run(ctx, v =>
            {
                view = v;
                return new Trainer(options).Fit(run.Trained, run.TrainX, train.Labels, run.TestX, test?.Labels, v, ctx.CancellationToken, q.Resume);
            });
        }
        catch (OperationCanceledException) when (ctx.CancellationToken.IsCancellationRequested)
        {
            int done = view?.LastEpoch ?? 0;
            ctx.Error.WriteLine(done > 0 && File.Exists(checkpoint)
                ? $"mlconv train: interrupted during epoch {done + 1}; the checkpoint of epoch {done} is {checkpoint} (continue: the same command with --resume {checkpoint})."
                : "mlconv train: interrupted before the first epoch ended; nothing was saved.");
            return Cli.Interrupted;
        }

        var network = run.Finish();
        if (!root) return Cli.Ok;
        ModelFile.Save(network, q.Output);
        TrainingHistoryFiles.Write(q.Output, result.History);
        string splitPath = Path.ChangeExtension(q.Output, ".split.txt");
        split.Write(splitPath, $"mlconv train --data {q.Data} ({splitSource})");
        if (q.Checkpoint is null && File.Exists(checkpoint)) File.Delete(checkpoint);

        if (test is not null)
        {
            var (loss, accuracy) = Trainer.Evaluate(run.Trained, run.TestX!, test.Labels);
            ctx.Line(FormattableString.Invariant($"Test accuracy {accuracy:P2} (loss {loss:F4}) on {test.Count} images after {result.History.Count} epochs in {clock.Elapsed.TotalSeconds:F1} s"));
        }
        else ctx.Line(FormattableString.Invariant($"Trained {result.History.Count} epochs in {clock.Elapsed.TotalSeconds:F1} s (no test images)"));
        ctx.Line($"Saved {Path.GetFullPath(q.Output)}; history {TrainingHistoryFiles.CsvPath(q.Output)} and .json; split {splitPath}");
        return Cli.Ok;
    }

    private static (ImageSplit Split, string Source) ChooseSplit(Request q, ImageFolder folder)
    {
        string? file = q.SplitFile ?? (File.Exists(ImageData.DefaultSplitFile(q.Data)) ? ImageData.DefaultSplitFile(q.Data) : null);
        if (file is not null) return (ImageSplit.Read(file), $"split {file}");
        if (q.TestFraction == 0) return (new ImageSplit(folder.Files, []), "no test part");
        return (ImageSplit.Stratified(folder, q.TestFraction, q.Options.Seed), FormattableString.Invariant($"{q.TestFraction:P0} of each class held out, seed {q.Options.Seed}"));
    }

    private static int ChooseChannels(ColorMode mode, ImageFolder folder) => mode switch
    {
        ColorMode.Gray => 1,
        ColorMode.Rgb => 3,
        _ => folder.ReadHeaders().Any(h => h.Channels >= 3) ? 3 : 1,
    };

    private static ImageSize CommonSize(CliContext ctx, ImageFolder folder)
    {
        var sizes = folder.ReadHeaders().Select(h => new ImageSize(h.Width, h.Height)).Distinct().ToArray();
        if (sizes.Length == 1) return sizes[0];
        var fallback = new ImageSize(32, 32);
        ctx.Line($"The images have {sizes.Length} different sizes; resizing them to {fallback} (choose with --size).");
        return fallback;
    }

    /// <summary>
    /// A base's normalisation for mlconv's 0..1 pixels: one made for 0..255 pixels (<see cref="ImageData.MadeFor0To255"/>)
    /// with its means and standard deviations divided by 255 is the same transform of 0..1 pixels.
    /// </summary>
    internal static Normalization ToUnitPixels(Normalization n) =>
        ImageData.MadeFor0To255(n) ? new Normalization([.. n.Mean.Select(m => m / 255f)], [.. n.Std.Select(v => v / 255f)]) : n;

    /// <summary>What trains, on which inputs, and how the saved network is made from it.</summary>
    private sealed record PreparedRun(Network Trained, Tensor TrainX, Tensor? TestX, TrainerOptions Options, Func<Network> Finish, string Description);

    private static PreparedRun Prepare(CliContext ctx, Request q, PretrainedNetwork? pretrained, ImageDataset train, ImageDataset? test)
    {
        var classes = train.ClassNames;
        int c = train.Channels, h = train.Height, w = train.Width, seed = q.Options.Seed;
        if (pretrained is null)
        {
            var built = Architectures.Create(q.Arch, c, h, w, classes.Count, seed, classes);
            var net = new Network(built.Root, c, h, w, classes, Normalization.Measure(train.Images)) { Architecture = built.Architecture };
            return new PreparedRun(net, train.Images, test?.Images, q.Options, () => net, $"{net.Architecture}: {net.ParameterCount:N0} parameters, {q.Options.Epochs} epochs");
        }

        var norm = pretrained.Normalization is { } given ? ToUnitPixels(given) : Normalization.Measure(train.Images);
        var featureShape = TransferLearning.FeatureShape(pretrained.Features, c, h, w);
        var head = TransferLearning.Head(featureShape, classes.Count, q.HeadDropout, seed);
        string arch = $"{pretrained.Name}+head";
        if (q.FineTune)
        {
            var whole = new Network(new Sequential([pretrained.Features, .. head.Layers]), c, h, w, classes, norm) { Architecture = arch };
            return new PreparedRun(whole, train.Images, test?.Images, q.Options, () => whole, $"{arch}: fine-tuning all {whole.ParameterCount:N0} parameters, {q.Options.Epochs} epochs");
        }
        if (featureShape.Length != 3)
            throw new NotSupportedException($"The pretrained base gives features of shape [{string.Join(", ", featureShape)}] per image; a frozen base must end in [C, H, W] activations (use --fine-tune or --cut-at).");
        var trainFeatures = TrainingView.Stage(ctx, $"{pretrained.Name} features of {train.Count} training images",
            p => TransferLearning.ComputeFeatures(pretrained.Features, train.Images, norm, progress: p, cancellationToken: ctx.CancellationToken));
        var testFeatures = test is null ? null : TrainingView.Stage(ctx, $"{pretrained.Name} features of {test.Count} test images",
            p => TransferLearning.ComputeFeatures(pretrained.Features, test.Images, norm, progress: p, cancellationToken: ctx.CancellationToken));
        var headOnly = new Network(head, featureShape[0], featureShape[1], featureShape[2], classes) { Architecture = "head" };
        var headOptions = q.Options.Clone();
        headOptions.RandomShift = 0;
        headOptions.HorizontalFlip = false;
        return new PreparedRun(headOnly, trainFeatures, testFeatures, headOptions,
            () => new Network(new Sequential([new Frozen(pretrained.Features), .. head.Layers]), c, h, w, classes, norm) { Architecture = arch },
            $"{arch}: frozen base, training the head's {headOnly.ParameterCount:N0} parameters on features [{string.Join(", ", featureShape)}], {q.Options.Epochs} epochs");
    }
}
