"""Old devices: the bundle's model on the legacy tflite-runtime 2.14 (numpy<2, its own venv)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from liveri.mobile import Bundle

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "legacy_tflite.sh"


@pytest.mark.slow
@pytest.mark.parametrize("bundle_fixture", ["int8_bundle", "float_bundle"])
def test_legacy_runtime_gives_litert_class_ids(bundle_fixture: str, request: pytest.FixtureRequest,
                                               digits_test: dict[str, np.ndarray],
                                               tmp_path: Path) -> None:
    bundle = request.getfixturevalue(bundle_fixture)
    pixels = digits_test["pixels"]
    np.save(tmp_path / "pixels.npy", pixels)
    result = subprocess.run([str(SCRIPT), str(bundle), str(tmp_path / "pixels.npy")],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    legacy = json.loads(result.stdout)
    assert legacy["runtime"].startswith("tflite_runtime 2.14")
    assert legacy["numpy"].startswith("1.")
    litert = Bundle(bundle)
    assert legacy["class_ids"] == [litert.predict(x)["class_id"] for x in pixels]
