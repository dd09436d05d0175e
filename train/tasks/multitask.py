"""Multi-task image classification: one shared trunk, the main class head and a second head.

The second head predicts a coarser label derived from the class (`aux_of_class`), so both heads
train on the same examples; `task_weights` sets how much each loss pulls on the shared trunk.
Export and serving see the main head only: the task exports exactly as ImageClassifier.
"""

from __future__ import annotations

from typing import Any

from liveri.train.layers.linear import Linear
from liveri.train.layers.softmax import SmoothLabels
from liveri.train.tasks.image_classifier import ImageClassifier

from liveri.lazy import tf
from liveri.params import Params


class MultiTaskImageClassifier(ImageClassifier):
    @classmethod
    def Params(cls) -> Params:
        p = super().Params()
        p.Define("aux_name", "parity", "Name of the second head (its metrics are prefixed).")
        p.Define("aux_labels", ["even", "odd"], "Class names of the second head.")
        p.Define("aux_of_class", [0, 1, 0, 1, 0, 1, 0, 1, 0, 1],
                 "The second head's class id for each main class id.")
        p.Define("task_weights", (1.0, 0.5), "Loss weights of (main head, second head).")
        return p

    def __init__(self, params: Params, path: str | None = None) -> None:
        super().__init__(params, path)
        p = self.params
        if len(p.aux_of_class) != len(p.labels):
            raise ValueError(f"{self.path}: aux_of_class needs one entry per label "
                             f"({len(p.labels)}), got {len(p.aux_of_class)}")
        self.aux_logits = self.CreateChild("aux_logits", Linear.Params().Set(
            input_dims=p.hidden_dims, output_dims=len(p.aux_labels)))

    def HeadLogits(self, batch: dict[str, Any], training: bool) -> tuple[Any, Any]:
        """(main logits, second head's logits), both from one pass through the trunk."""
        hidden = self.Encode(self.Preprocess(batch["pixels"]), training)
        return (tf.cast(self.logits(hidden), tf.float32),
                tf.cast(self.aux_logits(hidden), tf.float32))

    def ComputeLoss(self, batch: dict[str, Any], training: bool) -> tuple[Any, dict[str, Any]]:
        p = self.params
        logits, aux_logits = self.HeadLogits(batch, training)
        main_loss, metrics = self.LossFromLogits(batch, logits)
        aux_labels = tf.gather(tf.constant(p.aux_of_class, tf.int64), batch["label"])
        aux_losses = tf.nn.softmax_cross_entropy_with_logits(
            SmoothLabels(tf.one_hot(aux_labels, len(p.aux_labels)), p.label_smoothing),
            aux_logits)
        count = tf.cast(tf.shape(aux_logits)[0], tf.float32)
        correct = tf.cast(tf.equal(tf.argmax(aux_logits, -1), aux_labels), tf.float32)
        metrics[f"{p.aux_name}_loss"] = (tf.reduce_sum(aux_losses), count)
        metrics[f"{p.aux_name}_accuracy"] = (tf.reduce_sum(correct), count)
        main_weight, aux_weight = p.task_weights
        return main_weight * main_loss + aux_weight * tf.reduce_mean(aux_losses), metrics
