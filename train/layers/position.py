"""Position embeddings: fixed sinusoids (any length) or a learned table (up to max_length)."""

from __future__ import annotations

import math
from typing import Any

from liveri.train.layers.base_layer import BaseLayer

from liveri.lazy import tf
from liveri.params import Params


class SinusoidalPositionEmbedding(BaseLayer):
    """positions [...] (int) -> [..., embedding_dim]: sin and cos at geometric timescales, so
    relative offsets are linear maps and any length works without weights."""

    @classmethod
    def Params(cls) -> Params:
        p = super().Params()
        p.Define("embedding_dim", 0, "Size of each position vector (even).")
        p.Define("min_timescale", 1.0, "Shortest wavelength / 2 pi.")
        p.Define("max_timescale", 10000.0, "Longest wavelength / 2 pi.")
        return p

    def __init__(self, params: Params, path: str | None = None) -> None:
        super().__init__(params, path)
        if self.params.embedding_dim <= 0 or self.params.embedding_dim % 2:
            raise ValueError(f"{self.path}: embedding_dim must be positive and even")

    def FProp(self, positions: Any) -> Any:
        p = self.params
        half = p.embedding_dim // 2
        log_increment = math.log(p.max_timescale / p.min_timescale) / max(half - 1, 1)
        inv_timescales = p.min_timescale * tf.exp(
            tf.range(half, dtype=tf.float32) * -log_increment)
        angles = tf.expand_dims(tf.cast(positions, tf.float32), -1) * inv_timescales
        signal = tf.concat([tf.sin(angles), tf.cos(angles)], axis=-1)
        return tf.cast(signal, self.compute_dtype)


class LearnedPositionEmbedding(BaseLayer):
    """positions [...] (int, < max_length) -> [..., embedding_dim] from a trained table."""

    @classmethod
    def Params(cls) -> Params:
        p = super().Params()
        p.Define("embedding_dim", 0, "Size of each position vector.")
        p.Define("max_length", 512, "Number of positions the table holds.")
        p.params_init = "gaussian"
        p.init_scale = 0.02
        return p

    def __init__(self, params: Params, path: str | None = None) -> None:
        super().__init__(params, path)
        p = self.params
        if p.embedding_dim <= 0 or p.max_length <= 0:
            raise ValueError(f"{self.path}: embedding_dim and max_length must be positive")
        self.emb = self.CreateVariable("emb", (p.max_length, p.embedding_dim))

    def FProp(self, positions: Any) -> Any:
        return tf.gather(self.NoisyWeight(self.emb), positions)


def Positions(batch_size: Any, length: Any) -> Any:
    """[batch_size, length] int32 positions 0..length-1."""
    return tf.tile(tf.expand_dims(tf.range(length), 0), [batch_size, 1])
