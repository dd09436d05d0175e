"""On-device processing equals the server's: the bundle answers as `serving_default` does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from liveri.mobile import Bundle

from tests.mobile.conftest import MODEL


@pytest.fixture(scope="module")
def served(mobile_repo: Path, digits_test: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The SavedModel's `serving_default` answers on the raw test pixels (TF in the test only)."""
    import tensorflow as tf

    loaded = tf.saved_model.load(str(mobile_repo / MODEL / "1"))
    outputs = loaded.signatures["serving_default"](pixels=tf.constant(digits_test["pixels"]))
    return {"classes": outputs["classes"].numpy(),
            "labels": np.array([b.decode() for b in outputs["labels"].numpy()]),
            "scores": outputs["scores"].numpy()}


def _bundle_answers(bundle: Path, pixels: np.ndarray) -> dict[str, np.ndarray]:
    runner = Bundle(bundle)
    answers = [runner.predict(x) for x in pixels]
    return {"classes": np.array([a["class_id"] for a in answers]),
            "labels": np.array([a["label"] for a in answers]),
            "scores": np.array([a["scores"] for a in answers])}


def test_float_bundle_equals_serving_default(float_bundle: Path, served: dict[str, np.ndarray],
                                             digits_test: dict[str, np.ndarray]) -> None:
    mine = _bundle_answers(float_bundle, digits_test["pixels"])
    np.testing.assert_array_equal(mine["classes"], served["classes"])
    np.testing.assert_array_equal(mine["labels"], served["labels"])
    np.testing.assert_allclose(mine["scores"], served["scores"], atol=1e-5)


def test_int8_bundle_agrees_with_serving_default(int8_bundle: Path,
                                                 served: dict[str, np.ndarray],
                                                 digits_test: dict[str, np.ndarray]) -> None:
    mine = _bundle_answers(int8_bundle, digits_test["pixels"])
    same = mine["classes"] == served["classes"]
    assert same.mean() >= 0.98
    # Quantization may flip only examples the float model was unsure of.
    top_two = np.sort(served["scores"], axis=-1)[:, -2:]
    confident = top_two[:, 1] - top_two[:, 0] > 0.2
    assert same[confident].all()
    np.testing.assert_array_equal(mine["labels"][same], served["labels"][same])
    assert np.abs(mine["scores"] - served["scores"]).max() < 0.08
