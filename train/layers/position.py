"""Position embeddings: fixed sinusoids or a learned table, each up to max_length."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from liveri.train.layers.base_layer import BaseLayer

from liveri.lazy import tf
from liveri.params import Params


class SinusoidalPositionEmbedding(BaseLayer):
    """positions [...] (int, < max_length) -> [..., embedding_dim]: sin and cos at geometric
    timescales, so relative offsets are linear maps, with no weights to train.

    The sinusoids are read from two small constant tables, by the position's coarse step
    (position // H) and fine step (position % H), and joined by the angle-sum identities.
    Computing sin(position * frequency) in the graph instead makes full-int8 TFLite quantize the
    angles themselves (0.7 rad per step for 180 positions), which scrambled every position
    vector; tables of values in [-1, 1] quantize to 1/127. Two tables of sqrt(max_length) rows
    made text.Punctuator's float model 3% larger; one table of even 1,024 rows made it 11% larger.
    """

    @classmethod
    def Params(cls) -> Params:
        p = super().Params()
        p.Define("embedding_dim", 0, "Size of each position vector (even).")
        p.Define("min_timescale", 1.0, "Shortest wavelength / 2 pi.")
        p.Define("max_timescale", 10000.0, "Longest wavelength / 2 pi.")
        p.Define("max_length", 16384, "Positions the tables cover (0 .. max_length - 1).")
        return p

    def __init__(self, params: Params, path: str | None = None) -> None:
        super().__init__(params, path)
        p = self.params
        if p.embedding_dim <= 0 or p.embedding_dim % 2:
            raise ValueError(f"{self.path}: embedding_dim must be positive and even")
        if p.max_length <= 0:
            raise ValueError(f"{self.path}: max_length must be positive")
        self.step = math.isqrt(p.max_length - 1) + 1  # H: fine rows; coarse rows cover the rest
        half = p.embedding_dim // 2
        log_increment = math.log(p.max_timescale / p.min_timescale) / max(half - 1, 1)
        frequencies = p.min_timescale * np.exp(np.arange(half) * -log_increment)

        def Table(positions: np.ndarray) -> np.ndarray:
            angles = positions[:, None] * frequencies  # float64: exact tables
            return np.concatenate([np.sin(angles), np.cos(angles)], -1).astype(np.float32)

        self.coarse = Table(np.arange(-(-p.max_length // self.step)) * self.step)
        self.fine = Table(np.arange(self.step))

    def FProp(self, positions: Any) -> Any:
        coarse = tf.gather(self.coarse, positions // self.step)
        fine = tf.gather(self.fine, positions % self.step)
        sin_a, cos_a = tf.split(coarse, 2, axis=-1)
        sin_b, cos_b = tf.split(fine, 2, axis=-1)
        signal = tf.concat([sin_a * cos_b + cos_a * sin_b, cos_a * cos_b - sin_a * sin_b], -1)
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
