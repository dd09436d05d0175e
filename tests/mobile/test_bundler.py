"""`liveri bundle`: a zip a device can trust, with everything it needs described in bundle.json."""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import pytest
from liveri.mobile.bundler import make_bundle
from liveri.mobile.main import add_arguments, bundle_command

from liveri.artifact import manifest
from liveri.errors import UsageError
from tests.conftest import liveri
from tests.mobile.conftest import MODEL


def _members(bundle: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(bundle) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def test_bundle_holds_model_labels_and_description(int8_bundle: Path, mobile_repo: Path) -> None:
    members = _members(int8_bundle)
    assert set(members) == {"model.tflite", "bundle.json", "labels.txt"}
    spec = json.loads(members["bundle.json"])
    version_dir = mobile_repo / MODEL / "1"
    source = manifest.load(version_dir)
    artifact = source.artifact("tflite_int8")

    assert members["model.tflite"] == (version_dir / artifact.path).read_bytes()
    assert members["labels.txt"].decode().splitlines() == [str(i) for i in range(10)]
    assert {f["path"] for f in spec["files"]} == {"model.tflite", "labels.txt"}
    for entry in spec["files"]:
        assert entry["sha256"] == hashlib.sha256(members[entry["path"]]).hexdigest()
        assert entry["bytes"] == len(members[entry["path"]])

    (features,) = spec["inputs"]
    assert features["name"] == "features" and features["dtype"] == "int8"
    assert features["shape"] == [-1, 8, 8, 1]
    assert features["quantization"]["scale"] > 0
    (scores,) = spec["outputs"]
    assert scores["name"] == "scores" and scores["shape"] == [-1, 10]
    assert spec["preprocessing"] == source.preprocessing
    assert spec["postprocessing"]["kind"] == "classify"
    assert spec["labels_file"] == "labels.txt"
    for key in ("model", "version", "experiment", "params_hash"):
        assert spec["source"][key] == getattr(source, key)
    assert spec["source"]["format"] == "tflite_int8"
    assert spec["source"]["artifact_sha256"] == artifact.sha256
    assert spec["source"]["manifest_sha256"] == manifest.sha256_file(
        version_dir / "liveri/manifest.json")


def test_same_version_gives_the_same_bytes(mobile_repo: Path, tmp_path: Path) -> None:
    first = make_bundle(mobile_repo, MODEL, out=tmp_path / "a.zip")
    second = make_bundle(mobile_repo, MODEL, 1, out=tmp_path / "b.zip")
    assert first.read_bytes() == second.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.zip", "b.zip"]  # no temp leftovers
    named = _members(make_bundle(mobile_repo, MODEL, 1, "tflite_int8", out=tmp_path / "c.zip"))
    assert named["model.tflite"] == _members(first)["model.tflite"]  # the chosen one: int8


def _chosen(bundle: Path) -> dict:
    return json.loads(_members(bundle)["bundle.json"])["chosen"]


def test_the_format_is_chosen_by_measurement_within_the_budgets(mobile_repo: Path,
                                                               tmp_path: Path) -> None:
    """Without --format: the smallest artifact whose metric meets the release budgets; an
    artifact that misses them is passed over, saying why; latency reads the version's bench."""
    chosen = _chosen(make_bundle(mobile_repo, MODEL, out=tmp_path / "a.zip"))
    sizes = {a.format: a.bytes for a in manifest.load(mobile_repo / MODEL / "1").artifacts
             if a.format != "saved_model"}
    assert chosen["prefer"] == "size" and chosen["measured"] == sizes
    assert chosen["why"].startswith(f"{min(sizes, key=sizes.get)}: the smallest")
    repo = tmp_path / "repo"
    shutil.copytree(mobile_repo / MODEL / "1", repo / MODEL / "1")
    path = repo / MODEL / "1" / "liveri" / "manifest.json"
    spec = json.loads(path.read_text())
    for entry in spec["artifacts"]:
        if entry["format"] == "tflite_int8":  # as if int8 had lost the metric
            entry["metrics"]["accuracy"] = spec["budgets"]["min_metric"] - 0.01
    path.write_text(json.dumps(spec))
    chosen = _chosen(make_bundle(repo, MODEL, out=tmp_path / "b.zip"))
    assert chosen["why"].startswith("tflite_float") and "tflite_int8" in chosen["refused"]
    spec["budgets"]["bundle_prefer"] = "latency"
    path.write_text(json.dumps(spec))
    with pytest.raises(UsageError, match=r"run `liveri bench` on this version first"):
        make_bundle(repo, MODEL, out=tmp_path / "c.zip")


def test_newest_version_is_the_default(mobile_repo: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(mobile_repo / MODEL / "1", repo / MODEL / "1")
    shutil.copytree(mobile_repo / MODEL / "1", repo / MODEL / "7")
    spec = json.loads(_members(make_bundle(repo, MODEL, out=tmp_path / "b.zip"))["bundle.json"])
    # The copied manifest still says version 1; the folder chosen is the newest (7).
    assert spec["source"]["manifest_sha256"] == manifest.sha256_file(
        repo / MODEL / "7" / "liveri/manifest.json")
    with pytest.raises(UsageError, match=r"version 3 .*it has: 1, 7"):
        make_bundle(repo, MODEL, 3, out=tmp_path / "c.zip")


def test_unknown_model_names_the_models_there(mobile_repo: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"model 'nope' not found .*it has: image_digits"):
        make_bundle(mobile_repo, "nope", out=tmp_path / "b.zip")
    assert not (tmp_path / "b.zip").exists()


def test_format_not_exported_names_the_formats_there(mobile_repo: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"'tflite_fp16' was not exported .*"
                                         r"tflite_float, tflite_int8"):
        make_bundle(mobile_repo, MODEL, fmt="tflite_fp16", out=tmp_path / "b.zip")
    with pytest.raises(UsageError, match=r"'saved_model' cannot be bundled"):
        make_bundle(mobile_repo, MODEL, fmt="saved_model", out=tmp_path / "b.zip")


def test_changed_artifact_in_the_repository_is_not_bundled(mobile_repo: Path,
                                                            tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(mobile_repo / MODEL / "1", repo / MODEL / "1")
    model = repo / MODEL / "1" / "liveri/model_int8.tflite"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(UsageError, match=r"model_int8.tflite: checksum does not match"):
        make_bundle(repo, MODEL, out=tmp_path / "b.zip")


def test_bundle_command_parses_flags_and_writes(mobile_repo: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    out = tmp_path / "out" / "digits.zip"
    args = parser.parse_args(["--model_repo", str(mobile_repo), "--name", MODEL,
                              "--format", "tflite_float", "--out", str(out)])
    assert bundle_command(args) == 0
    assert str(out) in capsys.readouterr().out
    assert json.loads(_members(out)["bundle.json"])["format"] == "tflite_float"
    args = parser.parse_args(["--model_repo", str(mobile_repo), "--name", MODEL,
                              "--version", "0", "--out", str(out)])
    with pytest.raises(UsageError, match="--version"):
        bundle_command(args)


def test_liveri_bundle_command_line(mobile_repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "digits.zip"
    liveri("bundle", "--model_repo", str(mobile_repo), "--name", MODEL, "--out", str(out))
    assert json.loads(_members(out)["bundle.json"])["format"] == "tflite_int8"
    refused = liveri("bundle", "--model_repo", str(mobile_repo), "--name", MODEL, "--format",
                     "onnx", "--out", str(tmp_path / "x.zip"), check=False)
    assert refused.returncode == 2 and "'onnx' cannot be bundled" in refused.stderr
