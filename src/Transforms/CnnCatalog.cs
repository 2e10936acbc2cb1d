using System.Reflection;
using Microsoft.ML;
using Microsoft.ML.Runtime;

namespace MLConv.Transforms;

/// <summary>
/// The entry points: <c>mlContext.MulticlassClassification.Trainers.Cnn(...)</c>, where ML.NET users look for a trainer,
/// and <c>mlContext.Transforms.TrainCnn(...)</c> — the same estimator with the same options.
/// </summary>
public static class CnnCatalog
{
    /// <summary>An estimator that trains a CNN on image pixels and adds <c>Score</c> (class probabilities) and <c>PredictedLabel</c>.</summary>
    /// <param name="catalog">The context's transforms catalog.</param>
    /// <param name="options">Columns, network, image shape (read from the features column when not set), training options.</param>
    public static CnnEstimator TrainCnn(this TransformsCatalog catalog, CnnTrainerOptions options)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var env = GetEnvironment(catalog);
        return new CnnEstimator(env, catalog, options);
    }

    /// <summary>Short form of <see cref="TrainCnn(TransformsCatalog, CnnTrainerOptions)"/> with the common options; the rest keep their defaults.</summary>
    /// <param name="catalog">The context's transforms catalog.</param>
    /// <param name="labelColumnName">A key or integer label column.</param>
    /// <param name="featureColumnName">Planar CHW pixels, as <c>ExtractPixels</c> writes them.</param>
    /// <param name="architecture">One of <see cref="Training.Models.Architectures.Names"/>.</param>
    /// <param name="imageHeight">Image height; null reads it from the features column.</param>
    /// <param name="imageWidth">Image width; null reads it from the features column.</param>
    /// <param name="channels">1, 3 or 4; null reads it from the features column.</param>
    /// <param name="epochs">Passes over the training data.</param>
    public static CnnEstimator TrainCnn(this TransformsCatalog catalog, string labelColumnName = "Label", string featureColumnName = "Features",
        string architecture = "LeNet5", int? imageHeight = null, int? imageWidth = null, int? channels = null, int epochs = Training.Fitting.TrainerOptions.DefaultEpochs) =>
        catalog.TrainCnn(Short(labelColumnName, featureColumnName, architecture, imageHeight, imageWidth, channels, epochs));

    /// <summary>
    /// <c>mlContext.MulticlassClassification.Trainers.Cnn(options)</c>: the same estimator as
    /// <see cref="TrainCnn(TransformsCatalog, CnnTrainerOptions)"/>, found where ML.NET's multiclass trainers are.
    /// </summary>
    /// <param name="catalog">The context's multiclass trainers catalog.</param>
    /// <param name="options">Columns, network, image shape (read from the features column when not set), training options.</param>
    public static CnnEstimator Cnn(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog, CnnTrainerOptions options)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var env = GetEnvironment(catalog);
        return new CnnEstimator(env, env is MLContext ml ? ml.Transforms : new MLContext(seed: options.Trainer.Seed).Transforms, options);
    }

    /// <summary>Short form of <see cref="Cnn(MulticlassClassificationCatalog.MulticlassClassificationTrainers, CnnTrainerOptions)"/>, as <see cref="TrainCnn(TransformsCatalog, string, string, string, int?, int?, int?, int)"/>.</summary>
    /// <param name="catalog">The context's multiclass trainers catalog.</param>
    /// <param name="labelColumnName">A key or integer label column.</param>
    /// <param name="featureColumnName">Planar CHW pixels, as <c>ExtractPixels</c> writes them.</param>
    /// <param name="architecture">One of <see cref="Training.Models.Architectures.Names"/>.</param>
    /// <param name="imageHeight">Image height; null reads it from the features column.</param>
    /// <param name="imageWidth">Image width; null reads it from the features column.</param>
    /// <param name="channels">1, 3 or 4; null reads it from the features column.</param>
    /// <param name="epochs">Passes over the training data.</param>
    public static CnnEstimator Cnn(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog, string labelColumnName = "Label",
        string featureColumnName = "Features", string architecture = "LeNet5", int? imageHeight = null, int? imageWidth = null, int? channels = null,
        int epochs = Training.Fitting.TrainerOptions.DefaultEpochs) =>
        catalog.Cnn(Short(labelColumnName, featureColumnName, architecture, imageHeight, imageWidth, channels, epochs));

    private static CnnTrainerOptions Short(string label, string features, string architecture, int? height, int? width, int? channels, int epochs) => new()
    {
        LabelColumnName = label, FeatureColumnName = features, Architecture = architecture,
        ImageHeight = height, ImageWidth = width, Channels = channels, Trainer = { Epochs = epochs },
    };

    /// <summary>
    /// Registers MLConv's assembly with the context's component catalog. Not needed to load a saved model: ML.NET finds
    /// the one custom piece of the scoring chain (the arg-max, <see cref="PredictedIndexMappingFactory"/>) by itself, so
    /// <c>mlContext.Model.Load</c> in a fresh process scores without this call when the application references
    /// MLConv.Transforms (scripts/pack-check.sh checks it in a process that has not used MLConv before <c>Load</c>).
    /// Kept for applications that load MLConv's assembly dynamically.
    /// </summary>
    /// <param name="mlContext">The context to register with.</param>
    public static void RegisterMLConv(this MLContext mlContext)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        mlContext.ComponentCatalog.RegisterAssembly(typeof(CnnCatalog).Assembly);
    }

    /// <summary>
    /// A catalog's environment (the MLContext) is internal to ML.NET (CatalogUtils.GetEnvironment, dotnet/machinelearning#3243):
    /// it is read by reflection — the first IHostEnvironment field of the catalog or its base classes — so the estimator
    /// logs into the user's context, falling back to a new context.
    /// </summary>
    private static IHostEnvironment GetEnvironment(object catalog)
    {
        for (var t = catalog.GetType(); t is not null; t = t.BaseType)
        {
            foreach (var f in t.GetFields(BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public | BindingFlags.DeclaredOnly))
                if (typeof(IHostEnvironment).IsAssignableFrom(f.FieldType) && f.GetValue(catalog) is IHostEnvironment env) return env;
            foreach (var p in t.GetProperties(BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public | BindingFlags.DeclaredOnly))
                if (typeof(IHostEnvironment).IsAssignableFrom(p.PropertyType) && p.GetIndexParameters().Length == 0 && p.GetValue(catalog) is IHostEnvironment env) return env;
        }
        return new MLContext();
    }

    /// <summary>
    /// <c>MLContext.GpuDeviceId</c> and <c>FallbackToCpu</c> as the context's environment holds them (behind ML.NET's internal
    /// IHostEnvironmentInternal, read by reflection); no device (CPU) when the environment does not carry them.
    /// </summary>
    internal static (int? DeviceId, bool FallbackToCpu) GpuSettings(IHostEnvironment env)
    {
        var settings = env.GetType().GetInterfaces().FirstOrDefault(i => i.FullName == "Microsoft.ML.Runtime.IHostEnvironmentInternal");
        return (settings?.GetProperty("GpuDeviceId")?.GetValue(env) as int?, settings?.GetProperty("FallbackToCpu")?.GetValue(env) is true);
    }
}
