"""The parity report: every artifact against the trained model on the same held-out examples.

Each artifact runs in its own runtime on the inputs it takes (raw inputs for the SavedModel's
`serving_default` and, where it converts from it, ONNX; `features` for TFLite); the task turns
its scores into decoded answers and the task metric, the same way for all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from liveri.artifact import formats
from liveri.lazy import tf
from liveri.runtimes import OnnxModel, TfliteModel

CHUNK = 64  # examples per runtime call: bounds memory for sequence models


def reference_scores(task: Any, features: dict[str, np.ndarray]) -> np.ndarray:
    """What the trained model itself computes (eager TensorFlow, the checkpoint's weights)."""
    return _chunked(features, lambda f: task.ServeFeatures(
        **{k: tf.constant(v) for k, v in f.items()})["scores"].numpy())


def artifact_scores(fmt: str, path: Path, task: Any, serving_inputs: dict[str, np.ndarray],
                    features: dict[str, np.ndarray]) -> np.ndarray:
    """The `scores` artifact `fmt` at `path` computes, run in its own runtime."""
    if fmt == "saved_model":
        fn = tf.saved_model.load(str(path)).signatures["serving_default"]
        return _chunked(serving_inputs, lambda x: fn(
            **{k: tf.constant(v) for k, v in x.items()})["scores"].numpy())
    runtime = formats.get(fmt).runtime
    if runtime == formats.LITERT:
        model = TfliteModel(path)
        return _chunked(features, lambda f: model(**f)["scores"])
    if runtime == formats.ONNXRUNTIME:
        model = OnnxModel(path)
        inputs = serving_inputs if task.onnx_signature == "serving_default" else features
        return _chunked(inputs, lambda x: model(**x)["scores"])
    raise ValueError(f"no runner for format {fmt!r}")


def _chunked(inputs: dict[str, np.ndarray], fn: Any) -> np.ndarray:
    """fn over chunks of examples; per-position outputs padded to the longest chunk's length."""
    n = len(next(iter(inputs.values())))
    parts = [np.asarray(fn({k: v[i:i + CHUNK] for k, v in inputs.items()}))
             for i in range(0, n, CHUNK)]
    if parts[0].ndim >= 2 and len({p.shape[1] for p in parts}) > 1:
        longest = max(p.shape[1] for p in parts)
        parts = [np.pad(p, [(0, 0), (0, longest - p.shape[1])] + [(0, 0)] * (p.ndim - 2))
                 for p in parts]
    return np.concatenate(parts, axis=0)


def align(scores: np.ndarray, like: np.ndarray) -> np.ndarray:
    """`scores` cut or zero-padded along the time axis to `like`'s length."""
    if scores.ndim < 2 or scores.shape[1] == like.shape[1]:
        return scores
    if scores.shape[1] > like.shape[1]:
        return scores[:, : like.shape[1]]
    return np.pad(scores, [(0, 0), (0, like.shape[1] - scores.shape[1])]
                  + [(0, 0)] * (scores.ndim - 2))


def compare(task: Any, inp: Any, reference: np.ndarray, scores: np.ndarray,
            features: dict[str, np.ndarray], raw: dict[str, np.ndarray],
            reference_answers: list[Any]) -> dict[str, Any]:
    scores = align(scores, reference)
    answers, metrics = task.ParityAnswers(inp, features, scores, raw)
    agreement = float(np.mean([a == b for a, b in zip(answers, reference_answers)]))
    return {**metrics, "agreement": agreement,
            "max_abs_score_diff": float(np.max(np.abs(scores - reference))),
            "examples": len(answers)}
