using System.Reflection;
using Microsoft.ML;
using Microsoft.ML.Runtime;

namespace MLConv.Transforms;

/// <summary>The entry point: <c>mlContext.Transforms.TrainCnn(...)</c>.</summary>
public static class CnnCatalog
{
    /// <summary>An estimator that trains a CNN on image pixels and adds <c>Score</c> (class probabilities) and <c>PredictedLabel</c>.</summary>
    public static CnnEstimator TrainCnn(this TransformsCatalog catalog, CnnTrainerOptions options)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        return new CnnEstimator(GetContext(catalog), catalog, options);
    }

    /// <summary>Short form with the common options; the rest keep their defaults.</summary>
    public static CnnEstimator TrainCnn(this TransformsCatalog catalog, string labelColumnName = "Label", string featureColumnName = "Features",
        string architecture = "LeNet5", int imageHeight = 28, int imageWidth = 28, int channels = 1, int epochs = Training.Fitting.TrainerOptions.DefaultEpochs) =>
        catalog.TrainCnn(new CnnTrainerOptions
        {
            LabelColumnName = labelColumnName, FeatureColumnName = featureColumnName, Architecture = architecture,
            ImageHeight = imageHeight, ImageWidth = imageWidth, Channels = channels, Trainer = { Epochs = epochs },
        });

    /// <summary>
    /// Makes the PredictedLabel mapping loadable by <c>mlContext.Model.Load</c> in a process that has not
    /// touched MLConv yet (ML.NET finds CustomMapping factories in registered assemblies).
    /// </summary>
    public static void RegisterMLConv(this MLContext mlContext)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        mlContext.ComponentCatalog.RegisterAssembly(typeof(CnnCatalog).Assembly);
    }

    /// <summary>
    /// The catalog's environment (the MLContext) is internal to ML.NET (CatalogUtils.GetEnvironment, dotnet/machinelearning#3243);
    /// read it by reflection so the estimator logs into the user's context, falling back to a new context.
    /// </summary>
    private static IHostEnvironment GetContext(TransformsCatalog catalog)
    {
        var field = typeof(TransformsCatalog).GetField("_env", BindingFlags.Instance | BindingFlags.NonPublic);
        return field?.GetValue(catalog) as IHostEnvironment ?? new MLContext();
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
