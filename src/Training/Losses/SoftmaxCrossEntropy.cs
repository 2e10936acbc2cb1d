using MLConv.Training.Tensors;

namespace MLConv.Training.Losses;

/// <summary>
/// Softmax cross-entropy averaged over the batch, from logits z [N, K] and integer labels t:
///   L = (1/N) Σ_i [ log Σ_k exp(z_ik − m_i) + m_i − z_i,t_i ],  m_i = max_k z_ik (log-sum-exp, stable);
///   dL/dz_ik = (softmax(z_i)_k − [k = t_i]) / N.
/// When the rows are one part of a larger batch (a micro-shard of data-parallel training), N is that batch's size
/// (<c>meanOver</c>), so that the parts' losses and gradients add up to the whole batch's.
/// </summary>
public sealed class SoftmaxCrossEntropy
{
    private Tensor? _grad, _probs;

    /// <summary>Softmax probabilities of the last <see cref="Forward(Tensor, ReadOnlySpan{int})"/>.</summary>
    public Tensor Probabilities => _probs ?? throw new InvalidOperationException("Forward has not run.");

    /// <summary>Mean loss; also fills <see cref="Probabilities"/> and the gradient returned by <see cref="Backward"/>.</summary>
    public float Forward(Tensor logits, ReadOnlySpan<int> labels) => Forward(logits, labels, 0);

    /// <summary>
    /// The loss summed over the rows and divided by <paramref name="meanOver"/> (the whole batch's size when these rows
    /// are part of it; 0: the row count), and its gradient, likewise divided.
    /// </summary>
    public float Forward(Tensor logits, ReadOnlySpan<int> labels, int meanOver)
    {
        ArgumentNullException.ThrowIfNull(logits);
        if (logits.Rank != 2) throw new ArgumentException($"logits must be [N, classes]; got [{logits.ShapeString}].", nameof(logits));
        int n = logits.N, k = logits.Shape[1];
        if (labels.Length != n) throw new ArgumentException($"labels has {labels.Length} entries; logits have {n} rows.", nameof(labels));
        if (n == 0) throw new ArgumentException("The batch is empty.", nameof(logits));
        if (meanOver != 0 && meanOver < n) throw new ArgumentOutOfRangeException(nameof(meanOver), meanOver, $"meanOver must be 0 or at least the row count {n}.");
        int divisor = meanOver == 0 ? n : meanOver;
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
        System.Numerics.Tensors.TensorPrimitives.Multiply(g.Span, 1f / divisor, g.Span);
        return (float)(loss / divisor);
    }

    /// <summary>dL/dlogits of the last <see cref="Forward(Tensor, ReadOnlySpan{int})"/>.</summary>
    public Tensor Backward() => _grad ?? throw new InvalidOperationException("Forward has not run.");
}
