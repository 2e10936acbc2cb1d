using MLConv.Training.Tensors;

namespace MLConv.Cli;

/// <summary>
/// Multiclass metrics as ML.NET names them: micro accuracy (fraction right), macro accuracy (mean per-class recall over
/// the classes present), log-loss (mean −ln p(true class), p clamped to 1e-15), per-class precision and recall and the
/// confusion matrix (rows: true class, columns: predicted class).
/// </summary>
internal sealed class ClassificationMetrics
{
    public ClassificationMetrics(Tensor probabilities, IReadOnlyList<int> labels)
    {
        int n = labels.Count, k = probabilities.Shape[1];
        Confusion = new int[k, k];
        double logLoss = 0;
        for (int i = 0; i < n; i++)
        {
            var p = probabilities.Data.AsSpan(i * k, k);
            Confusion[labels[i], Rows.ArgMax(p)]++;
            logLoss -= Math.Log(Math.Max(1e-15, p[labels[i]]));
        }
        Count = n;
        LogLoss = logLoss / n;
        int right = 0, present = 0;
        double recallSum = 0;
        Recall = new double?[k];
        Precision = new double?[k];
        for (int c = 0; c < k; c++)
        {
            right += Confusion[c, c];
            int actual = 0, predicted = 0;
            for (int j = 0; j < k; j++) { actual += Confusion[c, j]; predicted += Confusion[j, c]; }
            if (actual > 0) { Recall[c] = (double)Confusion[c, c] / actual; recallSum += Recall[c]!.Value; present++; }
            if (predicted > 0) Precision[c] = (double)Confusion[c, c] / predicted;
        }
        MicroAccuracy = (double)right / n;
        MacroAccuracy = recallSum / Math.Max(1, present);
    }

    public int Count { get; }
    public double MicroAccuracy { get; }
    public double MacroAccuracy { get; }
    public double LogLoss { get; }
    public int[,] Confusion { get; }
    public double?[] Recall { get; }
    public double?[] Precision { get; }
}
