"""Normalization layers: `LayerNorm` (per position) and `BatchNorm` (per batch, with moving
averages that eval uses)."""

from __future__ import annotations

from typing import Any

from liveri.train.layers.base_layer import BaseLayer

from liveri.lazy import tf
from liveri.params import Params


class LayerNorm(BaseLayer):
    """Normalizes the last axis to zero mean and unit variance, then scales and shifts."""

    # Full-int8 TFLite computes a layer norm in steps, each output in 8 bits: all named here.
    ACTIVATIONS = ("centered", "variance", "inverse_std", "normed", "output")

    @classmethod
    def Params(cls) -> Params:
        p = super().Params()
        p.Define("input_dims", 0, "Size of the normalized (last) axis.")
        p.Define("epsilon", 1e-6, "Added to the variance for numerical stability.")
        return p

    def __init__(self, params: Params, path: str | None = None) -> None:
        super().__init__(params, path)
        p = self.params
        if p.input_dims <= 0:
            raise ValueError(f"{self.path}: input_dims must be positive, got {p.input_dims}")
        self.scale = self.CreateVariable("scale", (p.input_dims,), init="ones")
        self.bias = self.CreateVariable("bias", (p.input_dims,), init="zeros")

    def FProp(self, x: Any) -> Any:
        x = self.CastToCompute(x)
        mean = tf.reduce_mean(x, axis=-1, keepdims=True)
        centered = self.QAct("centered", x - mean)
        # centered * centered, not tf.square: TFLite fuses a square of a difference into
        # SQUARED_DIFFERENCE, which LiteRT cannot run on 16x8 (int16) tensors.
        variance = self.QAct("variance", tf.reduce_mean(centered * centered, -1, keepdims=True))
        inverse_std = self.QAct("inverse_std", tf.math.rsqrt(variance + self.params.epsilon))
        normed = self.QAct("normed", centered * inverse_std)
        return self.QAct("output", normed * self.Weight(self.scale) + self.Weight(self.bias))


class BatchNorm(BaseLayer):
    """Normalizes each channel (last axis) by batch statistics in training, moving averages at
    eval; padded positions (paddings = 1.0) are left out of the statistics."""

    @classmethod
    def Params(cls) -> Params:
        p = super().Params()
        p.Define("dim", 0, "Number of channels (the last axis).")
        p.Define("decay", 0.99, "Moving-average decay of the batch mean and variance.")
        p.Define("epsilon", 1e-3, "Added to the variance for numerical stability.")
        return p

    def __init__(self, params: Params, path: str | None = None) -> None:
        super().__init__(params, path)
        p = self.params
        if p.dim <= 0:
            raise ValueError(f"{self.path}: dim must be positive, got {p.dim}")
        self.gamma = self.CreateVariable("gamma", (p.dim,), init="ones")
        self.beta = self.CreateVariable("beta", (p.dim,), init="zeros")
        self.moving_mean = self.CreateVariable(
            "moving_mean", (p.dim,), init="zeros", trainable=False, aggregation="mean")
        self.moving_variance = self.CreateVariable(
            "moving_variance", (p.dim,), init="ones", trainable=False, aggregation="mean")

    def FProp(self, x: Any, paddings: Any = None, training: bool = False) -> Any:
        """x [..., dim]; paddings broadcastable to x's leading axes, 1.0 at padded positions."""
        p = self.params
        x = self.CastToCompute(x)
        if training:
            mean, variance = self._Moments(tf.cast(x, tf.float32), paddings)
            for var, value in ((self.moving_mean, mean), (self.moving_variance, variance)):
                var.assign(var * p.decay + tf.cast(value, var.dtype) * (1.0 - p.decay))
        else:
            mean, variance = self.moving_mean, self.moving_variance
        mean, variance = tf.cast(mean, x.dtype), tf.cast(variance, x.dtype)
        scale = self.Weight(self.gamma) * tf.math.rsqrt(variance + p.epsilon)
        return (x - mean) * scale + self.Weight(self.beta)

    def _Moments(self, x: Any, paddings: Any) -> tuple[Any, Any]:
        axes = list(range(x.shape.rank - 1))
        if paddings is None:
            return tf.nn.moments(x, axes)
        weights = tf.expand_dims(1.0 - tf.cast(paddings, tf.float32), -1)
        weights = tf.broadcast_to(weights, tf.concat([tf.shape(x)[:-1], [1]], 0))
        count = tf.maximum(tf.reduce_sum(weights, axes), 1.0)
        mean = tf.reduce_sum(x * weights, axes) / count
        variance = tf.reduce_sum(tf.square(x - mean) * weights, axes) / count
        return mean, variance
