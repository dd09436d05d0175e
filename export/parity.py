"""The parity report: every artifact against the trained model on the same held-out examples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from liveri.lazy import tf
from liveri.processing import preprocess
from liveri.runtimes import OnnxModel, TfliteModel


def reference_outputs(task: Any, raw: np.ndarray) -> dict[str, np.ndarray]:
    """What the trained model itself answers (eager TensorFlow, the checkpoint's weights)."""
    out = task.Serve(tf.constant(raw))
    return {"classes": out["classes"].numpy(), "scores": out["scores"].numpy()}


def artifact_outputs(fmt: str, path: Path, raw: np.ndarray, pre_spec: dict[str, Any]
                     ) -> dict[str, np.ndarray]:
    """What artifact `fmt` at `path` answers for raw inputs, run in its own runtime."""
    if fmt == "saved_model":
        loaded = tf.saved_model.load(str(path))
        out = loaded.signatures["serving_default"](pixels=tf.constant(raw))
        return {"classes": out["classes"].numpy(), "scores": out["scores"].numpy()}
    if fmt.startswith("tflite"):
        scores = TfliteModel(path)(features=preprocess(pre_spec, raw))["scores"]
        return {"classes": np.argmax(scores, -1), "scores": scores}
    if fmt == "onnx":
        out = OnnxModel(path)(pixels=raw)
        return {"classes": out["classes"], "scores": out["scores"]}
    raise ValueError(f"no runner for format {fmt!r}")


def compare(reference: dict[str, np.ndarray], outputs: dict[str, np.ndarray],
            labels: np.ndarray, metric: str) -> dict[str, float]:
    classes = np.asarray(outputs["classes"])
    return {
        metric: float(np.mean(classes == labels)),
        "agreement": float(np.mean(classes == reference["classes"])),
        "max_abs_score_diff": float(np.max(np.abs(outputs["scores"] - reference["scores"]))),
        "examples": int(len(labels)),
    }
