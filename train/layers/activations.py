"""Activation functions by name, so params can choose one as a string."""

from __future__ import annotations

from typing import Any

from liveri.lazy import tf

NAMES = ("none", "relu", "relu6", "gelu", "tanh", "sigmoid", "swish")


def Activate(name: str, x: Any) -> Any:
    if name == "none":
        return x
    if name == "relu":
        return tf.nn.relu(x)
    if name == "relu6":
        return tf.nn.relu6(x)
    if name == "gelu":
        return tf.nn.gelu(x)
    if name == "tanh":
        return tf.tanh(x)
    if name == "sigmoid":
        return tf.sigmoid(x)
    if name == "swish":
        return tf.nn.silu(x)
    raise ValueError(f"activation: expected one of {', '.join(NAMES)}, got {name!r}")
