"""Output layers: `Softmax` (its own weights) and `SharedSoftmax` (one table that both embeds
tokens and scores them), with label-smoothed cross-entropy."""

from __future__ import annotations

from typing import Any

from liveri.train.layers.base_layer import BaseLayer
from liveri.train.layers.embedding import Embedding
from liveri.train.layers.linear import MatmulLastAxis

from liveri.lazy import tf
from liveri.params import Params


def SmoothLabels(one_hot: Any, amount: float) -> Any:
    """Move `amount` of the probability mass of one-hot targets evenly onto every class."""
    if amount <= 0:
        return one_hot
    num_classes = tf.cast(tf.shape(one_hot)[-1], one_hot.dtype)
    return one_hot * (1.0 - amount) + amount / num_classes


class _XentMixin:
    """Cross-entropy over `Logits`, shared by both softmax layers."""

    def XentLoss(
        self, x: Any, labels: Any, paddings: Any = None, label_smoothing: float = 0.0
    ) -> tuple[Any, Any]:
        """(per-position loss [...], logits [..., C]) for inputs x [..., D] and int labels [...];
        padded positions (paddings = 1.0) get zero loss."""
        logits = tf.cast(self.Logits(x), tf.float32)
        targets = SmoothLabels(tf.one_hot(labels, tf.shape(logits)[-1]), label_smoothing)
        loss = tf.nn.softmax_cross_entropy_with_logits(targets, logits)
        if paddings is not None:
            loss = loss * (1.0 - tf.cast(paddings, tf.float32))
        return loss, logits


class Softmax(_XentMixin, BaseLayer):
    """x [..., input_dims] -> logits [..., num_classes]."""

    @classmethod
    def Params(cls) -> Params:
        p = super().Params()
        p.Define("input_dims", 0, "Size of the input's last axis.")
        p.Define("num_classes", 0, "Number of classes (the vocabulary for language models).")
        return p

    def __init__(self, params: Params, path: str | None = None) -> None:
        super().__init__(params, path)
        p = self.params
        if p.input_dims <= 0 or p.num_classes <= 0:
            raise ValueError(f"{self.path}: input_dims and num_classes must be positive")
        self.w = self.CreateVariable("w", (p.input_dims, p.num_classes))
        self.b = self.CreateVariable("b", (p.num_classes,), init="zeros")

    def Logits(self, x: Any) -> Any:
        x = self.CastToCompute(x)
        return MatmulLastAxis(x, self.NoisyWeight(self.w)) + self.NoisyWeight(self.b)

    def FProp(self, x: Any) -> Any:
        return self.Logits(x)


class SharedSoftmax(_XentMixin, Embedding):
    """An `Embedding` whose table also scores outputs: logits = x . emb^T + b, so input and
    output token representations are one set of weights (fewer parameters, often better)."""

    def __init__(self, params: Params, path: str | None = None) -> None:
        super().__init__(params, path)
        self.b = self.CreateVariable("b", (self.params.vocab_size,), init="zeros")

    @property
    def num_classes(self) -> int:
        return self.params.vocab_size

    def Logits(self, x: Any) -> Any:
        x = self.CastToCompute(x)
        table = self.NoisyWeight(self.emb)
        return MatmulLastAxis(x, table, transpose_w=True) + self.NoisyWeight(self.b)
