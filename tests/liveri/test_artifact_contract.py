"""The exported version's contract: the typed manifest refuses what it cannot trust, naming the
file and the field, and the one format table is what the CLI offers."""

import json
import shutil

import pytest

from liveri.artifact import formats, manifest
from liveri.artifact.manifest import Manifest, ManifestError
from tests.conftest import liveri


@pytest.fixture
def version_copy(digits_repo, tmp_path):
    copy = tmp_path / "repo" / "image_digits" / "1"
    shutil.copytree(digits_repo / "image_digits" / "1", copy)
    return copy


def _rewrite(version_dir, change):
    path = version_dir / "liveri" / "manifest.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    return path


def test_an_exported_manifest_reads_typed_and_writes_back_the_same(digits_repo):
    version_dir = digits_repo / "image_digits" / "1"
    m = manifest.load(version_dir)
    assert m.schema == manifest.SCHEMA and m.version == 1 and m.experiment == "image.Digits"
    assert m.origin["kind"] == "experiment"
    assert m.formats == list(formats.DEFAULT)
    int8 = m.artifact("tflite_int8")
    assert int8.path == formats.get("tflite_int8").file and int8.notes["fully_int8"] is True
    assert int8.inputs[0].quantization["scale"] > 0
    on_disk = json.loads((version_dir / "liveri" / "manifest.json").read_text())
    assert m.to_json() == on_disk
    assert Manifest.from_json(on_disk) == m
    with pytest.raises(KeyError, match="tflite_int8_qat.*it has: saved_model"):
        m.artifact("tflite_int8_qat")


def test_missing_field_is_refused_naming_file_and_field(version_copy):
    path = _rewrite(version_copy, lambda d: d.pop("main_metric"))
    with pytest.raises(ManifestError, match="main_metric' is missing") as e:
        manifest.load(version_copy)
    assert str(path) in str(e.value)


def test_nested_field_of_wrong_type_is_named_by_its_path(version_copy):
    def change(d):
        d["artifacts"][2]["sha256"] = 7
    _rewrite(version_copy, change)
    with pytest.raises(ManifestError, match=r"artifacts\[2\]\.sha256': expected str, got int"):
        manifest.load(version_copy)


def test_unknown_schema_is_refused(version_copy):
    _rewrite(version_copy, lambda d: d.update(schema="liveri.manifest/99"))
    with pytest.raises(ManifestError, match="unknown manifest schema 'liveri.manifest/99'"):
        manifest.load(version_copy)


def test_a_manifest_from_before_the_schema_reads_with_defaults(version_copy):
    def change(d):
        for key in ("schema", "origin", "skipped"):
            d.pop(key)
    _rewrite(version_copy, change)
    m = manifest.load(version_copy)
    assert m.schema == manifest.SCHEMA and m.skipped == [] and m.origin == {"kind": "experiment"}


def test_stages_refuse_a_broken_manifest_with_exit_2(version_copy):
    _rewrite(version_copy, lambda d: d.pop("artifacts"))
    repo = version_copy.parent.parent
    r = liveri("bundle", "--model_repo", str(repo), "--name", "image_digits", "--out",
               str(repo / "x.zip"), check=False)
    assert r.returncode == 2 and "'artifacts' is missing" in r.stderr
    r = liveri("export", "--verify", str(version_copy), check=False)
    assert r.returncode == 2 and "'artifacts' is missing" in r.stderr


def test_one_format_table_feeds_the_cli():
    assert formats.DEFAULT == ("saved_model", "tflite_float", "tflite_dynamic", "tflite_int8",
                               "tflite_fp16", "onnx")
    assert set(formats.BUNDLEABLE) == {f for f in formats.FORMATS if f.startswith("tflite")}
    with pytest.raises(formats.UnknownFormatError, match="tflite_int4.*saved_model,tflite_float"):
        formats.parse("tflite_float,tflite_int4")
    help_text = liveri("export", "--help").stdout
    assert ",".join(formats.FORMATS) in help_text.replace("\n", "").replace(" ", "")
