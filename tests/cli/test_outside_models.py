"""Models Liveri did not train, from the command line as a user runs them: `liveri export
--saved_model/--keras`, then `bundle` (where a TFLite converted), the device runner, `serve`,
`bench` and `release` with budgets from `--set release.KEY=VALUE`."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from liveri.artifact import manifest
from tests.conftest import liveri
from tests.export import foreign_models
from tests.serve.test_main import free_port

ROOT = Path(__file__).resolve().parents[2]
# Generous: the gate's machinery is under test here, not these toy models' speed.
BUDGETS = ["release.latency_p99_ms=1000", "release.min_metric=0.99",
           "release.max_int8_metric_drop=1", "release.max_bundle_bytes=10000000",
           "release.min_server_qps=1"]


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, list[str]]:
    """Each model's `liveri export` source flags."""
    root = tmp_path_factory.mktemp("outside")
    np.savez(root / "half.npz", np.linspace(-4, 4, 16).reshape(16, 1).astype(np.float32))
    np.savez(root / "strings.npz", **foreign_models.string_examples())
    return {
        "keras_image": ["--keras", str(foreign_models.keras_image_model(root / "image.keras"))],
        "multi_signature": ["--saved_model",
                            str(foreign_models.multi_signature_model(root / "multi"))],
        "half_plus_two": ["--saved_model", str(foreign_models.half_plus_two(root / "half")),
                          "--examples", str(root / "half.npz")],
        "strings": ["--saved_model", str(foreign_models.string_model(root / "strings")),
                    "--examples", str(root / "strings.npz")],
    }


def _serve(repo: Path) -> tuple[subprocess.Popen, int]:
    """`liveri serve` on free ports; (process, REST port) once it says it serves."""
    process = subprocess.Popen(
        [sys.executable, "-m", "liveri.cli", "serve", "--model_repo", str(repo), "--port=0",
         f"--rest_api_port={free_port()}", f"--metrics_port={free_port()}"], cwd=ROOT,
        stderr=subprocess.PIPE, text=True)
    try:
        for line in process.stderr:
            if line.startswith("liveri serve: gRPC on"):
                return process, int(re.search(r"REST on port (\d+)", line).group(1))
        raise AssertionError("liveri serve did not report its ports")
    except BaseException:
        process.kill()
        process.wait(timeout=60)
        raise


def _rest_predict(port: int, model: str, instances: list) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/models/{model}:predict",
        data=json.dumps({"instances": instances}).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.loads(answer.read())


@pytest.mark.parametrize("model", ["keras_image", "multi_signature", "half_plus_two", "strings"])
def test_an_outside_model_goes_through_every_stage(model, sources, tmp_path):
    repo = tmp_path / "repo"
    out = json.loads(liveri("export", *sources[model], "--model_repo", str(repo), "--name",
                            model, "--set", "release.latency_p99_ms=500").stdout)
    version = Path(out["version_dir"])
    m = manifest.load(version)
    assert m.experiment is None and m.origin["kind"] in ("saved_model", "keras")
    assert m.budgets["latency_p99_ms"] == 500
    assert liveri("export", "--verify", str(version)).returncode == 0
    tflite = [f for f in m.formats if f.startswith("tflite")]
    if model == "strings":
        assert m.formats == ["saved_model"] and tflite == []
        assert {s.format for s in m.skipped} >= {"tflite_float", "tflite_int8", "onnx"}
        assert all(s.reason for s in m.skipped)
    else:
        assert set(m.formats) >= {"saved_model", "tflite_float", "tflite_int8", "onnx"}
        assert m.metrics["tflite_float"]["agreement"] == 1.0

    bundle = tmp_path / "model.zip"
    r = liveri("bundle", "--model_repo", str(repo), "--name", model, "--format",
               "tflite_float", "--out", str(bundle), check=False)
    if not tflite:
        assert r.returncode == 2 and "was not exported" in r.stderr
    else:
        assert r.returncode == 0, r.stderr
        if model == "half_plus_two":
            x = tmp_path / "x.npy"
            np.save(x, np.array([3.0], np.float32))
            device = subprocess.run([sys.executable, "-m", "liveri.mobile", "run", str(bundle),
                                     "--input-file", str(x)], capture_output=True, text=True,
                                    timeout=120)
            assert device.returncode == 0, device.stderr
            assert json.loads(device.stdout) == {"y": [3.5]}

    process, port = _serve(repo)
    try:
        instances = {"half_plus_two": [[1.0], [3.0]],
                     "strings": [{"text": "a pleasant day", "bias": [0.0, 0.0, 0.0]}],
                     "keras_image": np.zeros((1, 8, 8, 1)).tolist(),
                     "multi_signature": [[1.0, 2.0, 3.0, 4.0]]}[model]
        answer = _rest_predict(port, model, instances)
        assert len(answer["predictions"]) == len(instances)
        if model == "half_plus_two":
            assert answer == {"predictions": [[2.5], [3.5]]}
    finally:
        process.terminate()
        process.wait(timeout=60)

    bench_dir = tmp_path / "bench"
    liveri("bench", "--model_repo", str(repo), "--name", model, "--quick", "--out",
           str(bench_dir))
    bench = json.loads((bench_dir / "bench.json").read_text())
    assert {r["format"] for r in bench["artifacts"]} == set(m.formats)
    assert bench["skipped"] == {}

    sets = [x for item in BUDGETS for x in ("--set", item)]
    r = liveri("release", "--model_repo", str(repo), "--name", model, "--quick", *sets,
               check=False)
    assert r.returncode == 0, r.stderr
    report = json.loads((version / "liveri" / "release_report.json").read_text())
    assert report["verdict"] == "released" and manifest.load(version).gate["verdict"] == \
        "released"
    verdicts = {b["key"]: b["verdict"] for b in report["budgets"]}
    assert verdicts["release.max_bundle_bytes"] == ("not applicable" if not tflite else "met")
    assert "trained elsewhere" in (version / "liveri" / "release_report.md").read_text()

    strict = liveri("release", "--model_repo", str(repo), "--name", model, "--quick",
                    "--set", "release.latency_p99_ms=0.000001", check=False)
    assert strict.returncode == 1 and "release.latency_p99_ms" in strict.stderr


def test_bad_input_exits_2_naming_what_was_expected(sources, tmp_path):
    repo = str(tmp_path / "repo")
    r = liveri("export", "--saved_model", str(tmp_path), "--model_repo", repo, "--name", "x",
               check=False)
    assert r.returncode == 2 and "saved_model.pb" in r.stderr
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a keras file")
    r = liveri("export", "--keras", str(bad), "--model_repo", repo, "--name", "x", check=False)
    assert r.returncode == 2 and "bad.keras" in r.stderr
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, z=np.zeros((4, 1), np.float32))
    r = liveri("export", *sources["half_plus_two"][:2], "--examples", str(wrong),
               "--model_repo", repo, "--name", "x", check=False)
    assert r.returncode == 2 and "takes inputs x" in r.stderr and "unexpected z" in r.stderr
    misshapen = tmp_path / "misshapen.npz"
    np.savez(misshapen, x=np.zeros((4, 2), np.float32))
    r = liveri("export", *sources["half_plus_two"][:2], "--examples", str(misshapen),
               "--model_repo", repo, "--name", "x", check=False)
    assert r.returncode == 2 and "float32 [None, 1]" in r.stderr and "[4, 2]" in r.stderr
    words = tmp_path / "words.npz"
    np.savez(words, x=np.array([["a"], ["b"]]))
    r = liveri("export", *sources["half_plus_two"][:2], "--examples", str(words),
               "--model_repo", repo, "--name", "x", check=False)
    assert r.returncode == 2 and "input 'x' expects float32 [None, 1]; got <U1" in r.stderr
    r = liveri("export", *sources["half_plus_two"][:2], "--model_repo", repo, "--name", "x",
               "--set", "train.max_steps=3", check=False)
    assert r.returncode == 2 and "release.KEY=VALUE" in r.stderr
    r = liveri("release", "--model_repo", repo, "--name", "nothing", check=False)
    assert r.returncode == 2 and "no versions" in r.stderr
