"""Per-token cross-entropy of a sequence model's logits: what the language model and the
translator train on and report (loss, token accuracy, perplexity), written once."""

from __future__ import annotations

import math
from typing import Any

from liveri.train.layers.softmax import SmoothLabels

from liveri.lazy import tf

# exp of a mean loss above this overflows nothing useful: an untrained model's perplexity.
MAX_LOG_PERPLEXITY = 50.0


def token_cross_entropy(logits: Any, labels: Any, paddings: Any,
                        label_smoothing: float) -> tuple[Any, dict[str, Any]]:
    """(label-smoothed cross-entropy per real token, {"loss": nll sums, "token_accuracy"}) for
    logits [B, T, V], int labels [B, T] and paddings [B, T] (1.0 = padded, not counted)."""
    real = 1.0 - tf.cast(paddings, tf.float32)
    log_probs = tf.nn.log_softmax(logits)
    targets = SmoothLabels(tf.one_hot(labels, tf.shape(logits)[-1]), label_smoothing)
    xent = -tf.reduce_sum(targets * log_probs, axis=-1) * real
    nll = -tf.gather(log_probs, labels, batch_dims=2) * real
    correct = tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32),
                               tf.cast(labels, tf.int32)), tf.float32) * real
    tokens = tf.reduce_sum(real)
    metrics = {"loss": (tf.reduce_sum(nll), tokens),
               "token_accuracy": (tf.reduce_sum(correct), tokens)}
    return tf.reduce_sum(xent) / tf.maximum(tokens, 1.0), metrics


def perplexity(mean_nll: float) -> float:
    """exp of a mean per-token negative log-likelihood."""
    return float(math.exp(min(mean_nll, MAX_LOG_PERPLEXITY)))
