"""Pre- and post-processing from a manifest's spec, in numpy only.

The SavedModel does this inside its graph; devices (and TFLite parity checks) do it here, from
the same spec, so the same raw input gives the same answer everywhere.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def preprocess(spec: dict[str, Any], raw: Any) -> np.ndarray:
    """Raw input (one example or a batch) -> the float features the TFLite model takes."""
    if spec["kind"] != "image":
        raise ValueError(f"preprocessing kind {spec['kind']!r} is not supported")
    shape = tuple(spec["raw_input"]["shape"])
    x = np.asarray(raw)
    if x.dtype.kind not in "uif":
        raise ValueError(f"pixels: expected a numeric array of shape {list(shape)} (or a batch "
                         f"[N, {', '.join(map(str, shape))}]), got dtype {x.dtype}")
    if x.shape == shape:
        x = x[None]
    if x.shape[1:] != shape:
        raise ValueError(f"pixels: expected shape {list(shape)} or [N, "
                         f"{', '.join(map(str, shape))}], got {list(x.shape)}")
    x = x.astype(np.float32) * np.float32(spec["scale"])
    return x[..., None] if spec.get("add_channel_axis") else x


def postprocess(spec: dict[str, Any], scores: np.ndarray, labels: list[str]) -> dict[str, Any]:
    """Scores [N, C] -> class ids, labels and scores (what `serving_default` answers)."""
    if spec["kind"] != "classify":
        raise ValueError(f"postprocessing kind {spec['kind']!r} is not supported")
    classes = np.argmax(scores, axis=-1).astype(np.int64)
    return {"classes": classes, "labels": [labels[int(c)] for c in classes], "scores": scores}
