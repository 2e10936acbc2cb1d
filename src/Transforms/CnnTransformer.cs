using Google.Protobuf;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.Runtime;
using MLConv.Export;
using MLConv.Training.Models;
using MLConv.Training.Tensors;
using MLConv.Training.Fitting;

namespace MLConv.Transforms;

/// <summary>
/// The fitted TrainCnn: adds <c>Score</c> (class probabilities) and <c>PredictedLabel</c> (a key whose
/// values are the class names). Immutable after fit.
/// <para>
/// Scoring is delegated to standard ML.NET transformers over MLConv's own ONNX export of the trained
/// network: <c>ApplyOnnxModel</c> (ONNX Runtime, lazy, row by row) computes the probabilities from the raw
/// pixels (the export includes the input normalisation; <see cref="OnnxScoringGraph"/> adds the reshape from the flat
/// pixel vector and the column names), with the GPU settings of the user's MLContext; a registered <c>CustomMapping</c> takes the arg-max, and <c>MapValue</c> + <c>MapValueToKey</c> attach the
/// class names. ML.NET 5 does not let an outside transformer write into <c>ModelSaveContext</c>, but it
/// saves and loads these transformers itself — the ONNX bytes travel inside the model zip — so
/// <c>mlContext.Model.Save</c>/<c>Load</c> of a whole pipeline round-trips (it loads back as the
/// equivalent <see cref="TransformerChain{TLastTransformer}"/>). MLConv's own C# inference stays
/// available through <see cref="Network"/> and <see cref="PredictWithNetwork"/> for parity checks (those calls are
/// serialised: the network keeps per-call buffers). Scoring runs ONNX Runtime once per row, as ApplyOnnxModel does;
/// <see cref="PredictWithNetwork"/> is the batched path. Dispose releases the ONNX Runtime session.
/// </para>
/// </summary>
public sealed class CnnTransformer : ITransformer, IDisposable
{
    internal const string ProbabilitiesColumn = "__mlconv_probabilities";
    internal const string IndexColumn = "__mlconv_predicted_index";
    internal const string NameColumn = "__mlconv_predicted_name";

    private readonly TransformerChain<ITransformer> _chain;

    internal CnnTransformer(IHostEnvironment env, TransformsCatalog transforms, Network network, CnnTrainerOptions options, TrainingResult result)
    {
        Network = network;
        Options = options;
        TrainingResult = result;
        _chain = BuildScoringChain(env, transforms, network, options);
    }

    /// <summary>The trained network (MLConv's own C# inference).</summary>
    public Network Network { get; }
    /// <summary>The options the estimator was given.</summary>
    public CnnTrainerOptions Options { get; }
    /// <summary>The training run: per-epoch history (for curves: <c>MLConv.Plots.TrainingCurves</c>, or <see cref="TrainingHistoryFile"/>), best epoch, early stop, time.</summary>
    public TrainingResult TrainingResult { get; }
    /// <summary>The class names in key order: index i of <c>Score</c> is the probability of ClassNames[i].</summary>
    public IReadOnlyList<string> ClassNames => Network.ClassNames;

    /// <summary>The ML.NET transformers that do the scoring (what Model.Save writes).</summary>
    public TransformerChain<ITransformer> ScoringChain => _chain;

    /// <summary>True: scoring maps each row on its own.</summary>
    public bool IsRowToRowMapper => true;

    /// <summary>Per-layer output shapes, parameters, multiply-accumulates and receptive fields of <see cref="Network"/>.</summary>
    public ModelSummary Summary() => Network.Summary();

    /// <summary>
    /// Writes the network as ONNX: input <c>input</c> [N, C, H, W] raw pixels (normalisation included), outputs <c>logits</c> and
    /// <c>probabilities</c>. With default options this is the model the scoring chain runs, before
    /// <see cref="OnnxScoringGraph"/> adapts its input and output names to the columns.
    /// </summary>
    public OnnxExportReport ExportOnnx(string path, OnnxExportOptions? options = null) => OnnxExporter.Export(Network, path, options);

    /// <summary>Runs an exported file under ONNX Runtime on the pixels of <paramref name="data"/> and compares with MLConv's own forward.</summary>
    public OnnxVerificationReport VerifyOnnx(string onnxPath, IDataView data, int maxRows = 64)
    {
        var images = ReadImages(data, maxRows);
        lock (Network) return OnnxVerifier.Verify(Network, onnxPath, images);
    }

    /// <summary>Class probabilities from MLConv's own C# forward pass, one row per input row.</summary>
    public float[][] PredictWithNetwork(IDataView data)
    {
        var images = ReadImages(data, int.MaxValue);
        Tensor p;
        lock (Network) p = Network.ProbabilitiesFromPixels(images);
        int k = Network.NumClasses;
        return [.. Enumerable.Range(0, images.N).Select(i => p.Data.AsSpan(i * k, k).ToArray())];
    }

    private Tensor ReadImages(IDataView data, int maxRows)
    {
        ArgumentNullException.ThrowIfNull(data);
        CheckFeatures(data.Schema);
        return DataViewReader.ReadImages(data, data.Schema[Options.FeatureColumnName], Network.Channels, Network.Height, Network.Width, maxRows);
    }

    /// <summary>
    /// ApplyOnnxModel over <see cref="OnnxScoringGraph"/> of the standard export, then the arg-max and the class names,
    /// every transformer from the user's catalog and ApplyOnnxModel on the device of the user's MLContext
    /// (<c>GpuDeviceId</c>, <c>FallbackToCpu</c>; <see cref="ScoringCatalog"/>).
    /// </summary>
    private static TransformerChain<ITransformer> BuildScoringChain(IHostEnvironment env, TransformsCatalog transforms, Network network, CnnTrainerOptions o)
    {
        var scoring = OnnxScoringGraph.FromExport(OnnxExporter.ToModel(network), o.FeatureColumnName, ProbabilitiesColumn);
        // A context only to hold two in-memory views (the class names, an empty schema); it scores nothing.
        var data = new MLContext(seed: o.Trainer.Seed).Data;
        var names = network.ClassNames.ToArray();
        var keyData = data.LoadFromEnumerable(names.Select(n => new ClassNameRow { Name = n }));
        var (onnxCatalog, deviceId, fallbackToCpu) = ScoringCatalog(env, transforms);
        var pipeline = onnxCatalog.ApplyOnnxModel([ProbabilitiesColumn], [o.FeatureColumnName], new MemoryStream(scoring.ToByteArray()), deviceId, fallbackToCpu)
            .Append(transforms.CustomMapping<ScoreRow, PredictedIndexRow>(PredictedIndexMappingFactory.Map, PredictedIndexMappingFactory.ContractName))
            .Append(transforms.Conversion.MapValue(NameColumn, names.Select((n, i) => new KeyValuePair<uint, string>((uint)i, n)), IndexColumn))
            .Append(transforms.Conversion.MapValueToKey(o.PredictedLabelColumnName, NameColumn, keyData: keyData))
            .Append(transforms.CopyColumns(o.ScoreColumnName, ProbabilitiesColumn))
            .Append(transforms.DropColumns(ProbabilitiesColumn, IndexColumn, NameColumn));
        // Fitting these transformers reads only the schema: an empty view with the features column suffices.
        var schemaOnly = data.LoadFromEnumerable(Array.Empty<FeaturesRow>(), FeaturesRow.Definition(o.FeatureColumnName, network.Channels * network.Height * network.Width));
        return new TransformerChain<ITransformer>([.. pipeline.Fit(schemaOnly)]);
    }

    /// <summary>
    /// The catalog and device for ApplyOnnxModel. Normally the user's catalog with its context's GpuDeviceId and
    /// FallbackToCpu. ML.NET falls back to CPU only on an ONNX Runtime error, but an ONNX Runtime without CUDA (the CPU
    /// package) fails with a missing entry point instead; so when a GPU is asked for and ONNX Runtime does not offer
    /// CUDA, FallbackToCpu scores on CPU — through a CPU context, since the user's catalog would read the GPU id back
    /// from the context — and without it the fit stops with a message saying what to install or set.
    /// </summary>
    private static (TransformsCatalog Catalog, int? DeviceId, bool FallbackToCpu) ScoringCatalog(IHostEnvironment env, TransformsCatalog transforms)
    {
        var (deviceId, fallbackToCpu) = CnnCatalog.GpuSettings(env);
        if (deviceId is null || OrtEnv.Instance().GetAvailableProviders().Contains(OnnxVerifier.Cuda))
            return (transforms, deviceId, fallbackToCpu);
        if (!fallbackToCpu)
            throw new InvalidOperationException(
                $"MLContext.GpuDeviceId is {deviceId} but the installed ONNX Runtime offers only {string.Join(", ", OrtEnv.Instance().GetAvailableProviders())}: " +
                "reference Microsoft.ML.OnnxRuntime.Gpu to score on the GPU, or set MLContext.FallbackToCpu to score on the CPU.");
        return (new MLContext().Transforms, null, false);
    }

    /// <summary>The input schema plus the score and predicted-label columns.</summary>
    /// <param name="inputSchema">A schema whose features column holds the images the network was trained on.</param>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        CheckFeatures(inputSchema);
        return _chain.GetOutputSchema(inputSchema);
    }

    /// <summary>Adds the score and predicted-label columns (lazily: ONNX Runtime runs when the rows are read).</summary>
    /// <param name="input">Rows whose features column holds images of the trained shape.</param>
    public IDataView Transform(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        CheckFeatures(input.Schema);
        return _chain.Transform(input);
    }

    /// <summary>The row mapper of the scoring chain (what a prediction engine uses).</summary>
    /// <param name="inputSchema">A schema whose features column holds images of the trained shape.</param>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema)
    {
        CheckFeatures(inputSchema);
        return ((ITransformer)_chain).GetRowToRowMapper(inputSchema);
    }

    void ICanSaveModel.Save(ModelSaveContext ctx) => ((ICanSaveModel)_chain).Save(ctx);

    /// <summary>Releases the ONNX Runtime session of the scoring chain.</summary>
    public void Dispose() => _chain.Dispose();

    private void CheckFeatures(DataViewSchema schema) =>
        SchemaChecks.CheckFeatures(Options.FeatureColumnName, schema, new ImageShape(Network.Channels, Network.Height, Network.Width));

    private sealed class ClassNameRow
    {
        public string Name { get; set; } = "";
    }

    private sealed class FeaturesRow
    {
        public float[] Features { get; set; } = [];

        public static SchemaDefinition Definition(string column, int size)
        {
            var def = SchemaDefinition.Create(typeof(FeaturesRow));
            def[0].ColumnName = column;
            def[0].ColumnType = new VectorDataViewType(NumberDataViewType.Single, size);
            return def;
        }
    }
}
