"""`python -m liveri.mobile run`: the device-side command a user tries first."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from tests.mobile.helpers import flip_byte_in_file


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "liveri.mobile", "run", *args],
                          capture_output=True, text=True, timeout=120)


def test_prints_the_answer_as_json(int8_bundle: Path, digits_test: dict[str, np.ndarray],
                                   tmp_path: Path) -> None:
    pixels = digits_test["pixels"][:5]
    labels = digits_test["label"][:5]
    answers = []
    for i, x in enumerate(pixels):
        np.save(tmp_path / f"x{i}.npy", x)
        result = run(str(int8_bundle), "--input-file", str(tmp_path / f"x{i}.npy"))
        assert result.returncode == 0, result.stderr
        answers.append(json.loads(result.stdout))
    assert all(set(a) == {"class_id", "label", "scores"} for a in answers)
    assert sum(a["class_id"] == y for a, y in zip(answers, labels)) >= 4


def test_changed_model_byte_exits_2_naming_model_tflite(int8_bundle: Path, tmp_path: Path,
                                                        digits_test) -> None:
    np.save(tmp_path / "x.npy", digits_test["pixels"][0])
    bad = flip_byte_in_file(int8_bundle, tmp_path / "bad.zip", "model.tflite")
    result = run(str(bad), "--input-file", str(tmp_path / "x.npy"))
    assert result.returncode == 2
    assert "model.tflite: checksum mismatch" in result.stderr
    assert result.stdout == ""


def test_wrong_input_exits_2_saying_what_is_expected(int8_bundle: Path, tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((4, 4), np.uint8))
    result = run(str(int8_bundle), "--input-file", str(tmp_path / "x.npy"))
    assert result.returncode == 2
    assert "got [4, 4]" in result.stderr and "shape [8, 8]" in result.stderr

    result = run(str(int8_bundle), "--input-file", str(tmp_path / "missing.npy"))
    assert result.returncode == 2 and "missing.npy: no such file" in result.stderr


def test_text_or_wav_for_an_image_bundle_exits_2(int8_bundle: Path, tmp_path: Path) -> None:
    for flag, value in (("--text", "hello"), ("--wav", str(tmp_path / "a.wav"))):
        result = run(str(int8_bundle), flag, value)
        assert result.returncode == 2
        assert "this bundle takes image input: pass --input-file X.npy" in result.stderr


def test_exactly_one_input_flag(int8_bundle: Path) -> None:
    assert run(str(int8_bundle)).returncode == 2
    assert run(str(int8_bundle), "--text", "a", "--input-file", "x.npy").returncode == 2
