"""Dropout that is active only in training, with a stateless seed for reproducibility."""

from __future__ import annotations

from typing import Any

from liveri.train.layers.base_layer import BaseLayer

from liveri.lazy import tf
from liveri.params import Params


class Dropout(BaseLayer):
    @classmethod
    def Params(cls) -> Params:
        p = super().Params()
        p.Define("keep_prob", 1.0, "Probability of keeping an activation; 1.0 disables dropout.")
        return p

    def FProp(self, x: Any, training: bool = False) -> Any:
        keep = self.params.keep_prob
        if not training or keep >= 1.0:
            return x
        return tf.nn.dropout(x, rate=1.0 - keep)
