"""`Bundle`: verify, load on LiteRT, and answer one raw example, with no TensorFlow around."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from liveri.mobile import Bundle, ChecksumMismatch, InputError
from liveri.mobile.bundle import BundleError

from liveri.errors import UsageError
from tests.mobile.helpers import flip_byte_in_file, repack, repack_with_changed_byte

_NO_TF_ACCURACY = """
import json, sys
import numpy as np
from liveri.mobile import Bundle

bundle = Bundle(sys.argv[1])
pixels, labels = np.load(sys.argv[2]), np.load(sys.argv[3])
answers = [bundle.predict(x) for x in pixels]
print(json.dumps({
    "accuracy": float(np.mean([a["class_id"] == y for a, y in zip(answers, labels)])),
    "labels_match": all(a["label"] == str(a["class_id"]) for a in answers),
    "tensorflow_loaded": sorted(m for m in sys.modules if m.split(".")[0] == "tensorflow"),
}))
"""


def test_int8_bundle_classifies_real_digits_without_tensorflow(
        int8_bundle: Path, digits_test: dict[str, np.ndarray], tmp_path: Path) -> None:
    np.save(tmp_path / "pixels.npy", digits_test["pixels"])
    np.save(tmp_path / "labels.npy", digits_test["label"])
    result = subprocess.run(
        [sys.executable, "-c", _NO_TF_ACCURACY, str(int8_bundle), str(tmp_path / "pixels.npy"),
         str(tmp_path / "labels.npy")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["tensorflow_loaded"] == []
    assert report["labels_match"]
    assert report["accuracy"] >= 0.95, report
    assert len(digits_test["label"]) >= 300


def test_answer_is_plain_json(int8_bundle: Path, digits_test: dict[str, np.ndarray]) -> None:
    bundle = Bundle(int8_bundle, num_threads=2)
    answer = bundle.predict(digits_test["pixels"][0])
    assert set(answer) == {"class_id", "label", "scores"}
    assert isinstance(answer["class_id"], int) and isinstance(answer["label"], str)
    assert len(answer["scores"]) == 10 and all(isinstance(s, float) for s in answer["scores"])
    assert answer["class_id"] == int(np.argmax(answer["scores"]))
    assert json.loads(json.dumps(answer)) == answer
    assert bundle.input_kind == "image"


def test_float_pixels_answer_like_uint8(float_bundle: Path,
                                        digits_test: dict[str, np.ndarray]) -> None:
    bundle = Bundle(float_bundle)
    for x in digits_test["pixels"][:20]:
        assert bundle.predict(x.astype(np.float32)) == bundle.predict(x)


@pytest.mark.parametrize("bad, problem", [
    (np.zeros((8, 7), np.uint8), r"got \[8, 7\]"),
    (np.zeros((64,), np.float32), r"got \[64\]"),
    (np.zeros((3, 8, 8), np.uint8), r"one example, got 3"),
    ("a string", r"dtype <U8"),
    (np.full((8, 8), True), r"dtype bool"),
])
def test_wrong_input_says_what_the_model_expects(int8_bundle: Path, bad: object,
                                                 problem: str) -> None:
    with pytest.raises(InputError, match=problem) as caught:
        Bundle(int8_bundle).predict(bad)
    assert "shape [8, 8], dtype uint8 or float32" in str(caught.value)
    assert isinstance(caught.value, UsageError)


@pytest.mark.parametrize("damage", [flip_byte_in_file, repack_with_changed_byte])
@pytest.mark.parametrize("member", ["model.tflite", "labels.txt"])
def test_changed_byte_is_refused_naming_the_file(int8_bundle: Path, tmp_path: Path,
                                                 damage, member: str) -> None:
    bad = damage(int8_bundle, tmp_path / "bad.zip", member)
    with pytest.raises(ChecksumMismatch, match=rf"^{member}: checksum mismatch") as caught:
        Bundle(bad)
    assert caught.value.file == member


def test_changed_bundle_json_is_refused(int8_bundle: Path, tmp_path: Path) -> None:
    def rescale(data: bytes) -> bytes:
        assert b'"scale": 0.0625' in data
        return data.replace(b'"scale": 0.0625', b'"scale": 0.0626')

    with pytest.raises(ChecksumMismatch, match=r"^bundle.json: checksum mismatch"):
        Bundle(repack(int8_bundle, tmp_path / "rescaled.zip", "bundle.json", rescale))
    with pytest.raises(ChecksumMismatch, match=r"^bundle.json: checksum mismatch"):
        Bundle(flip_byte_in_file(int8_bundle, tmp_path / "flipped.zip", "bundle.json"))


def test_not_a_bundle_is_refused(tmp_path: Path, int8_bundle: Path) -> None:
    with pytest.raises(BundleError, match="no such bundle"):
        Bundle(tmp_path / "missing.zip")
    (tmp_path / "text.zip").write_text("not a zip")
    with pytest.raises(BundleError, match="not a readable zip"):
        Bundle(tmp_path / "text.zip")
    with zipfile.ZipFile(int8_bundle) as src, zipfile.ZipFile(tmp_path / "no_json.zip", "w") as z:
        z.writestr("model.tflite", src.read("model.tflite"))
    with pytest.raises(BundleError, match="no bundle.json"):
        Bundle(tmp_path / "no_json.zip")
