"""The tf.distribute strategies `liveri train --strategy` names, built on this machine's devices.

`multi_worker` is not here: it needs a cluster (`TF_CONFIG`), which `multi_worker` sets up.
"""

from __future__ import annotations

from typing import Any

from liveri.errors import UsageError
from liveri.lazy import tf

LOCAL_STRATEGIES = ("one_device", "mirrored")


def make_strategy(name: str) -> Any:
    """`one_device`: the first GPU when there is one, else the CPU; `mirrored`: every local GPU
    (or the CPU) with gradients all-reduced."""
    if name == "one_device":
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    raise UsageError(f"--strategy: expected one of {LOCAL_STRATEGIES} (or multi_worker with "
                     f"--workers), got {name!r}")
