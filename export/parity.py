"""The parity report: every artifact against the trained model on the same held-out examples.

Every artifact runs through `liveri.artifact.runner` in its own runtime, fed by the version's kind
exactly as a device or the server feeds it (raw inputs for the SavedModel's `serving_default`
and the ONNX model converted from it, numpy-encoded features for the others); the trained model
runs eagerly on the same features. The kind decodes each one's outputs into answers, and the
task scores the answers, the same way for all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from liveri.artifact.kinds import Kind
from liveri.artifact.runner import Runner, chunked
from liveri.lazy import tf

CHUNK = 64  # examples per runtime call: bounds memory for sequence models


def trained_model(kind: Kind, features_fn: Any) -> Runner:
    """The trained model itself (TensorFlow, the checkpoint's weights, before any saving or
    conversion) as its `features` signature, `features_fn`, computes."""
    args, kwargs = features_fn.structured_input_signature
    specs = list(kwargs.values()) or list(args)

    def call(**features: np.ndarray) -> dict[str, np.ndarray]:
        out = features_fn(*[tf.constant(features[spec.name]) for spec in specs])
        return {k: v.numpy() for k, v in out.items()}

    inputs = {spec.name: np.dtype(spec.dtype.as_numpy_dtype) for spec in specs}
    return Runner("trained model", kind, call, inputs)


def run_all(runner: Runner, examples: Sequence[Any]) -> tuple[list[Any], dict[str, np.ndarray]]:
    """(answers, outputs) of `runner` on every example, in chunks."""
    def chunk(part: list[Any]) -> tuple[list[Any], dict[str, np.ndarray]]:
        encoded, outputs = runner.run(part)
        return runner.kind.decode(encoded, outputs), outputs

    return chunked(chunk, examples, CHUNK)


def align(scores: np.ndarray, like: np.ndarray) -> np.ndarray:
    """`scores` cut or zero-padded along the time axis to `like`'s length."""
    if scores.ndim < 2 or scores.shape[1] == like.shape[1]:
        return scores
    if scores.shape[1] > like.shape[1]:
        return scores[:, : like.shape[1]]
    return np.pad(scores, [(0, 0), (0, like.shape[1] - scores.shape[1])]
                  + [(0, 0)] * (scores.ndim - 2))


def compare(task: Any, kind: Kind, answers: list[Any], outputs: dict[str, np.ndarray],
            reference_answers: list[Any], reference_outputs: dict[str, np.ndarray],
            raw: dict[str, np.ndarray]) -> dict[str, Any]:
    """The task metric of `answers`, their agreement with the trained model's, and the largest
    difference of their scores as `serving_default` answers them."""
    reference = kind.scores_as_served(reference_answers, reference_outputs)
    scores = align(kind.scores_as_served(answers, outputs), reference)
    agreement = float(np.mean([kind.agreement_key(a) == kind.agreement_key(b)
                               for a, b in zip(answers, reference_answers, strict=True)]))
    return {**task.AnswerMetrics(answers, raw), "agreement": agreement,
            "max_abs_score_diff": float(np.max(np.abs(scores - reference))),
            "examples": len(answers)}
