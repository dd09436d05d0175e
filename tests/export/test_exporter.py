"""`liveri export` as a user runs it: TF Serving's layout, every artifact, proven equal."""

import json
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from liveri.export.selective_int8 import counts

from liveri import layout
from liveri.artifact import formats, manifest
from tests.conftest import liveri

FORMATS = ("saved_model", "tflite_float", "tflite_dynamic", "tflite_int8", "tflite_fp16", "onnx")


@pytest.fixture(scope="module")
def version_dir(digits_repo):
    return digits_repo / "image_digits" / "1"


def test_version_has_tf_serving_layout_and_every_artifact(version_dir):
    for rel in ("saved_model.pb", "variables/variables.index",
                "assets.extra/tf_serving_warmup_requests", layout.MANIFEST_FILE,
                layout.PARITY_FILE, layout.VERSION_PARAMS_FILE, *(formats.get(f).file for f in formats.DEFAULT)):
        assert (version_dir / rel).is_file(), rel
    assert not list(version_dir.parent.glob(layout.TEMP_PREFIX + "*"))


def test_saved_model_cli_lists_the_serving_signature(version_dir):
    cli = shutil.which("saved_model_cli", path=str(__import__("pathlib").Path(sys.executable).parent))
    out = subprocess.run([cli, "show", "--dir", str(version_dir), "--all"], capture_output=True,
                         text=True, timeout=120).stdout
    assert "signature_def['serving_default']" in out
    assert "inputs['pixels']" in out and "DT_UINT8" in out and "outputs['labels']" in out


def test_saved_model_answers_raw_pixels_with_labels(version_dir):
    import tensorflow as tf
    from liveri.train.input.digits import DigitsInput

    test = DigitsInput(DigitsInput.Params()).Examples("test")
    fn = tf.saved_model.load(str(version_dir)).signatures["serving_default"]
    out = fn(pixels=tf.constant(test["pixels"]))
    assert np.mean(out["classes"].numpy() == test["label"]) >= 0.95
    assert out["labels"].numpy()[0].decode() == str(out["classes"].numpy()[0])


def test_manifest_checksums_and_parity_meet_goals(version_dir):
    m = manifest.load(version_dir)
    assert {a.format for a in m.artifacts} == set(FORMATS)
    assert manifest.verify(version_dir) == []
    assert m.checkpoint_step == 300 and len(m.params_hash) == 64
    for a in m.artifacts:
        assert a.sha256 == manifest.sha256_file(version_dir / a.path)
        assert a.metrics["accuracy"] >= 0.95, a.format
    parity = json.loads((version_dir / layout.PARITY_FILE).read_text())
    assert set(parity["artifacts"]) == set(FORMATS)
    sizes = {a.format: a.bytes for a in m.artifacts}
    assert sizes["tflite_int8"] <= 0.3 * sizes["tflite_float"]
    drop = m.metrics["tflite_float"]["accuracy"] - m.metrics["tflite_int8"]["accuracy"]
    assert drop <= 0.01
    assert m.metrics["tflite_float"]["max_abs_score_diff"] < 1e-4


def test_verify_names_a_changed_file(version_dir, tmp_path):
    copy = tmp_path / "1"
    shutil.copytree(version_dir, copy)
    assert liveri("export", "--verify", str(copy)).returncode == 0
    target = copy / "liveri" / "model_int8.tflite"
    data = bytearray(target.read_bytes())
    data[100] ^= 0xFF
    target.write_bytes(bytes(data))
    r = liveri("export", "--verify", str(copy), check=False)
    assert r.returncode == 1 and "liveri/model_int8.tflite" in r.stderr


def test_second_export_is_version_2(digits_logdir, tmp_path):
    repo = tmp_path / "repo"
    for _ in range(2):
        liveri("export", "-e", "image.Digits", "--logdir", str(digits_logdir), "--model_repo",
               str(repo), "--formats", "tflite_float")
    assert sorted(layout.versions(repo / "image_digits")) == [1, 2]
    assert manifest.load(repo / "image_digits" / "2").version == 2


def test_killed_export_leaves_no_partial_version_and_is_cleaned(digits_logdir, tmp_path):
    repo = tmp_path / "repo"
    model_dir = repo / "image_digits"
    proc = subprocess.Popen(
        [sys.executable, "-m", "liveri.cli", "export", "-e", "image.Digits", "--logdir",
         str(digits_logdir), "--model_repo", str(repo)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not list(model_dir.glob(".tmp-*/saved_model.pb")):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert list(model_dir.glob(".tmp-*")), "export finished before it could be killed"
    assert layout.versions(model_dir) == {}
    liveri("export", "-e", "image.Digits", "--logdir", str(digits_logdir), "--model_repo",
           str(repo), "--formats", "tflite_float")
    assert list(layout.versions(model_dir)) == [1]
    assert not list(model_dir.glob(".tmp-*"))


def test_bad_export_input_exits_2(digits_logdir, tmp_path):
    r = liveri("export", "-e", "image.Digits", "--logdir", str(digits_logdir), "--model_repo",
               str(tmp_path), "--formats", "tflite_float,coreml", check=False)
    assert r.returncode == 2 and "coreml" in r.stderr and "tflite_int8" in r.stderr
    r = liveri("export", "-e", "image.Digits", "--logdir", str(tmp_path / "empty"),
               "--model_repo", str(tmp_path), check=False)
    assert r.returncode == 2 and ("checkpoint" in r.stderr or "params.txt" in r.stderr)
    r = liveri("export", "-e", "image.Digitz", "--logdir", str(digits_logdir), "--model_repo",
               str(tmp_path), check=False)
    assert r.returncode == 2 and "image.Digits" in r.stderr


def test_int8_carries_each_layers_quantization_error(version_dir):
    """parity.json keeps TFLite's QuantizationDebugger figures for every int8 layer, worst
    first, so the layers int8 hurts can be named (and kept float)."""
    found = json.loads((version_dir / layout.PARITY_FILE).read_text())["int8_layers"]
    report = found["tflite_int8"]
    layers = report["layers"]
    assert report["examples"] > 0 and len(layers) >= 3
    ratios = [x["rmse_over_scale"] for x in layers]
    assert ratios == sorted(ratios, reverse=True)
    assert all(x["scale"] > 0 and x["rmse"] >= 0 and x["op"] for x in layers)
    assert abs(sum(x["share_of_squared_error"] for x in layers) - 1) < 0.01
    # Rounding alone gives about 0.29; a trained small CNN stays within a few times that.
    assert 0.1 < ratios[0] < 20


def test_int8_over_budget_tries_keeping_its_worst_layers_in_float(digits_logdir, tmp_path):
    """A budget no model can meet: export keeps 1, 2, 4 then all 8 of its worst layers in
    float, judges each on the parity examples, and keeps the try with the smallest drop if it
    beats full int8, else full int8 (which of the two depends on the short training), saying
    which and why in the manifest."""
    liveri("export", "-e", "image.Digits", "--logdir", str(digits_logdir), "--model_repo",
           str(tmp_path), "--formats", "saved_model,tflite_float,tflite_int8",
           "--set", "release.max_int8_metric_drop=-1")
    version = tmp_path / "image_digits" / "1"
    int8 = manifest.load(version).artifact("tflite_int8")
    note = int8.notes["kept_float"]
    layers = json.loads((version / layout.PARITY_FILE).read_text())["int8_layers"]
    # Doubling, then all layers but one (keeping every layer in float is no int8 model).
    all_but_one = len(layers["tflite_int8"]["layers"]) - 1
    assert [t["float_layers"] for t in note["tries"]] == [1, 2, 4, all_but_one]
    assert note["budget_met"] is False
    drops = {t["float_layers"]: t["metric_drop"] for t in note["tries"]}
    tflite_float = manifest.load(version).artifact("tflite_float")
    if note["layers"]:  # a try beat full int8: the best one is served, still over budget
        best = min(drops, key=drops.get)
        assert len(note["layers"]) == best and "still over budget" in note["why"]
        served_drop = tflite_float.metrics["accuracy"] - int8.metrics["accuracy"]
        assert abs(served_drop - drops[best]) < 1e-4
    else:  # none did: full int8 stays
        assert "stays" in note["why"] and int8.bytes < 0.3 * tflite_float.bytes
    assert manifest.verify(version) == []


def test_selective_int8_tries_double_up_to_the_limit():
    assert counts(16, 8) == [1, 2, 4, 7] and counts(16, 5) == [1, 2, 4]
    assert counts(6, 100) == [1, 2, 4, 6]
    assert counts(1, 5) == [1] and counts(0, 5) == [] and counts(4, 1) == []
