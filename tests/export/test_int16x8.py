"""tflite_int16x8: int8 weights with int16 activations, the quantized format that keeps float's
quality where full int8 does not (docs/int8.md): exported, judged, tabled and bundled."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter
from liveri.benchmarks.int8_budgets import row
from liveri.mobile.bundler import make_bundle
from liveri.train.input.digits import DigitsInput

from liveri.artifact import manifest
from tests.conftest import liveri


@pytest.fixture(scope="module")
def int16x8_version(digits_logdir, tmp_path_factory) -> Path:
    repo = tmp_path_factory.mktemp("int16x8")
    liveri("export", "-e", "image.Digits", "--logdir", str(digits_logdir), "--model_repo",
           str(repo), "--formats", "saved_model,tflite_float,tflite_int8,tflite_int16x8")
    return repo / "image_digits" / "1"


def test_int16x8_holds_int16_activations_int8_weights_and_floats_accuracy(int16x8_version):
    source = manifest.load(int16x8_version)
    art = source.artifact("tflite_int16x8")
    assert art.notes["fully_int16x8"] is True and "calibrated_on" in art.notes
    assert [t.dtype for t in art.inputs + art.outputs] == ["float32"] * 2  # float in and out
    interpreter = Interpreter(model_path=str(int16x8_version / art.path))
    dtypes = {np.dtype(t["dtype"]).name for t in interpreter.get_tensor_details()}
    assert {"int16", "int8"} <= dtypes  # activations int16, weights int8
    assert art.bytes < 0.35 * source.artifact("tflite_float").bytes
    float_acc = source.metrics["tflite_float"]["accuracy"]
    assert abs(art.metrics["accuracy"] - float_acc) <= 0.01 and art.metrics["agreement"] >= 0.99
    assert manifest.verify(int16x8_version) == []

    found = row(source)  # the int8 table shows it beside full int8
    assert set(found["others"]) == {"tflite_int16x8"}
    assert found["others"]["tflite_int16x8"]["drop"] == pytest.approx(
        float_acc - art.metrics["accuracy"])


def test_int16x8_is_bundled_and_answers_on_litert(int16x8_version, tmp_path):
    bundle = make_bundle(int16x8_version.parent.parent, "image_digits", fmt="tflite_int16x8",
                         out=tmp_path / "int16x8.zip")
    test = DigitsInput(DigitsInput.Params()).Examples("test")
    right = 0
    for i in range(5):
        np.save(tmp_path / f"x{i}.npy", test["pixels"][i])
        run = subprocess.run([sys.executable, "-m", "liveri.mobile", "run", str(bundle),
                              "--input-file", str(tmp_path / f"x{i}.npy")],
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        right += json.loads(run.stdout)["class_id"] == test["label"][i]
    assert right >= 4


@pytest.mark.slow  # about 150 s: a Transformer LM's training and export
def test_a_transformer_lm_exports_16x8_within_1_percent_of_float_perplexity(tmp_path):
    """The causal mask, layer norm and position tables convert under TFLite's 16x8 quantizer and
    run on LiteRT (docs/int8.md): int16 activations keep float's perplexity."""
    logdir = tmp_path / "lm"
    liveri("train", "-e", "text.TransformerLm", "--logdir", str(logdir),
           "--set", "train.max_steps=5", "--set", "train.eval_every=5")
    liveri("export", "-e", "text.TransformerLm", "--logdir", str(logdir), "--model_repo",
           str(tmp_path / "repo"), "--formats", "saved_model,tflite_float,tflite_int16x8",
           "--set", "export.parity_examples=20")
    version = tmp_path / "repo" / "text_transformerlm" / "1"
    source = manifest.load(version)
    assert source.formats == ["saved_model", "tflite_float", "tflite_int16x8"]
    assert source.skipped == []
    float_ppl = source.metrics["tflite_float"]["perplexity"]
    assert source.artifact("tflite_int16x8").metrics["perplexity"] == pytest.approx(
        float_ppl, rel=0.01)
    assert manifest.verify(version) == []
