"""Learning-rate schedules chosen by `train.lr_schedule`: a function of the step, in TF."""

from __future__ import annotations

import math
from typing import Any

from liveri.lazy import tf
from liveri.params import Params

SCHEDULES = ("constant", "cosine", "warmup_rsqrt", "exp_decay")


def LearningRate(p: Params, step: Any) -> Any:
    """The learning rate at `step` for trainer params `p` (a float32 scalar tensor)."""
    step = tf.cast(step, tf.float32)
    peak = tf.constant(p.learning_rate, tf.float32)
    warmup = float(max(p.warmup_steps, 0))
    warm = tf.minimum(1.0, (step + 1.0) / warmup) if warmup > 0 else tf.constant(1.0)
    if p.lr_schedule == "constant":
        return peak
    if p.lr_schedule == "cosine":
        span = float(max(p.max_steps - p.warmup_steps, 1))
        progress = tf.clip_by_value((step - warmup) / span, 0.0, 1.0)
        cosine = 0.5 * (1.0 + tf.cos(math.pi * progress))
        return peak * warm * (p.min_lr_ratio + (1.0 - p.min_lr_ratio) * cosine)
    if p.lr_schedule == "warmup_rsqrt":
        return peak * tf.minimum(warm, tf.math.rsqrt(tf.maximum(step, 1.0) / max(warmup, 1.0)))
    if p.lr_schedule == "exp_decay":
        # Continuous exponential decay from `decay_start`, halving every `half_life` steps.
        elapsed = tf.maximum(step - float(p.decay_start), 0.0)
        return peak * tf.pow(0.5, elapsed / float(max(p.half_life, 1)))
    raise ValueError(f"train.lr_schedule: expected one of {', '.join(SCHEDULES)}, "
                     f"got {p.lr_schedule!r}")
