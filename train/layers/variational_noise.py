"""Variational weight noise (Lingvo's `p.vn.global_vn`): Gaussian noise on weights in training.

Noise needs the global step (it starts at `vn.start_step` and changes every step), and must never
reach eval or export. So it is switched on explicitly around the training computation only:

    with variational_noise.Step(global_step):
        loss, metrics = task.ComputeLoss(batch, training=True)

Layers read weights through `BaseLayer.NoisyWeight`, which calls `AddNoise`; outside a `Step`
it returns the weight unchanged. Under `tf.function` the context must be entered inside the
traced function (the step variable is then read at run time, not frozen at trace time).
"""

from __future__ import annotations

import zlib
from typing import Any

from liveri.lazy import tf
from liveri.params import Params

_active_steps: list[Any] = []


class Step:
    """While entered, layers whose `vn.global_vn` is on add noise to their weights at `step`."""

    def __init__(self, step: Any) -> None:
        self.step = step

    def __enter__(self) -> Step:
        _active_steps.append(self.step)
        return self

    def __exit__(self, *exc: Any) -> None:
        _active_steps.pop()


def CurrentStep() -> Any | None:
    """The step of the innermost active `Step`, or None outside training."""
    return _active_steps[-1] if _active_steps else None


def AddNoise(vn: Params, random_seed: int, var: Any, weight: Any) -> Any:
    """`weight` plus N(0, vn.scale^2) noise, seeded by the variable's name and the step."""
    step = CurrentStep()
    if step is None or not vn.global_vn or not vn.scale:
        return weight
    base_seed = vn.seed if vn.seed is not None else random_seed
    name = getattr(var, "name", "")
    seed = tf.stack([
        tf.constant((base_seed + zlib.crc32(name.encode())) % (2**31), tf.int64),
        tf.cast(step, tf.int64),
    ])
    noise = tf.random.stateless_normal(tf.shape(weight), seed, dtype=weight.dtype) * vn.scale
    started = tf.cast(tf.cast(step, tf.int64) >= vn.start_step, weight.dtype)
    return weight + started * noise
