using MLConv.Training.Tensors;

namespace MLConv.Training.Losses;

/// <summary>
/// Softmax cross-entropy averaged over the batch, from logits z [N, K] and integer labels t:
///   L = (1/N) Σ_i [ log Σ_k exp(z_ik − m_i) + m_i − z_i,t_i ],  m_i = max_k z_ik (log-sum-exp, stable);
///   dL/dz_ik = (softmax(z_i)_k − [k = t_i]) / N.
/// </summary>
public sealed class SoftmaxCrossEntropy
{
    private Tensor? _grad, _probs;

    /// <summary>Softmax probabilities of the last <see cref="Forward"/>.</summary>
    public Tensor Probabilities => _probs ?? throw new InvalidOperationException("Forward has not run.");

    /// <summary>Mean loss; also fills <see cref="Probabilities"/> and the gradient returned by <see cref="Backward"/>.</summary>
    public float Forward(Tensor logits, ReadOnlySpan<int> labels)
    {
        ArgumentNullException.ThrowIfNull(logits);
        if (logits.Rank != 2) throw new ArgumentException($"logits must be [N, classes]; got [{logits.ShapeString}].", nameof(logits));
        int n = logits.N, k = logits.Shape[1];
        if (labels.Length != n) throw new ArgumentException($"labels has {labels.Length} entries; logits have {n} rows.", nameof(labels));
        if (n == 0) throw new ArgumentException("The batch is empty.", nameof(logits));
        var p = Tensor.Reuse(ref _probs, n, k);
        double loss = 0;
        for (int i = 0; i < n; i++)
        {
            int t = labels[i];
            if ((uint)t >= (uint)k) throw new ArgumentOutOfRangeException(nameof(labels), t, $"Label at row {i} is {t}; it must be in [0, {k - 1}].");
            var z = logits.Data.AsSpan(i * k, k);
            loss += Rows.Softmax(z, p.Data.AsSpan(i * k, k)) - z[t];
        }
        var g = Tensor.Reuse(ref _grad, n, k);
        p.Span.CopyTo(g.Span);
        for (int i = 0; i < n; i++) g.Data[i * k + labels[i]] -= 1f;
        System.Numerics.Tensors.TensorPrimitives.Multiply(g.Span, 1f / n, g.Span);
        return (float)(loss / n);
    }

    /// <summary>dL/dlogits of the last <see cref="Forward"/>.</summary>
    public Tensor Backward() => _grad ?? throw new InvalidOperationException("Forward has not run.");
}
