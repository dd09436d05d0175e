"""A diagonal Gaussian latent: the reparameterization trick and its KL to the N(0, I) prior.

A VAE's encoder predicts a mean and a log-variance per latent dimension; training draws
z = mean + exp(log_var / 2) * eps with eps ~ N(0, I), so the gradient flows through mean and
log_var. Evaluation uses the same draw (the ELBO is an expectation over it); `mode=True` returns
the mean instead (what an encoder signature serves).
"""

from __future__ import annotations

from typing import Any

from liveri.train.layers.base_layer import BaseLayer

from liveri.lazy import tf
from liveri.params import Params


class GaussianSample(BaseLayer):
    @classmethod
    def Params(cls) -> Params:
        p = super().Params()
        p.Define("min_log_var", -10.0, "Floor of the predicted log-variance (keeps exp finite).")
        p.Define("max_log_var", 10.0, "Ceiling of the predicted log-variance.")
        return p

    def FProp(self, mean: Any, log_var: Any, mode: bool = False) -> Any:
        """A latent draw [..., D] (the mean itself when `mode`)."""
        if mode:
            return mean
        log_var = self.ClipLogVar(log_var)
        return mean + tf.exp(0.5 * log_var) * tf.random.normal(tf.shape(mean), dtype=mean.dtype)

    def ClipLogVar(self, log_var: Any) -> Any:
        p = self.params
        return tf.clip_by_value(log_var, p.min_log_var, p.max_log_var)

    def KlToPrior(self, mean: Any, log_var: Any) -> Any:
        """KL(N(mean, exp(log_var)) || N(0, I)) in nats, summed over the last axis: [...]."""
        log_var = tf.cast(self.ClipLogVar(log_var), tf.float32)
        mean = tf.cast(mean, tf.float32)
        return 0.5 * tf.reduce_sum(tf.square(mean) + tf.exp(log_var) - 1.0 - log_var, axis=-1)
