"""The source: which folders are versions, and which versions a policy serves."""

from __future__ import annotations

from liveri.serve.source import (
    ModelSpec,
    VersionPolicy,
    aspired_versions,
    repo_specs,
    version_folders,
)


def _version(root, name, complete=True):
    folder = root / name
    folder.mkdir(parents=True)
    if complete:
        (folder / "saved_model.pb").write_bytes(b"")
    return folder


def test_version_folders_are_all_digit_names_holding_a_saved_model(tmp_path):
    _version(tmp_path, "00000123")
    _version(tmp_path, "7")
    _version(tmp_path, ".tmp-8")
    _version(tmp_path, "v9")
    _version(tmp_path, "10", complete=False)  # still being written
    (tmp_path / "11").write_text("a file, not a folder")
    assert version_folders(str(tmp_path)) == {123: str(tmp_path / "00000123"),
                                              7: str(tmp_path / "7")}
    assert version_folders(str(tmp_path / "missing")) == {}


def test_policies_pick_versions(tmp_path):
    for name in ("1", "2", "3"):
        _version(tmp_path, name)
    base = str(tmp_path)
    assert list(aspired_versions(ModelSpec("m", base))) == [3]
    assert list(aspired_versions(ModelSpec("m", base, VersionPolicy("latest", 2)))) == [2, 3]
    assert list(aspired_versions(ModelSpec("m", base, VersionPolicy("all")))) == [1, 2, 3]
    specific = VersionPolicy("specific", versions=(1, 5))
    assert list(aspired_versions(ModelSpec("m", base, specific))) == [1]


def test_repository_models_are_folders_with_versions(tmp_path):
    _version(tmp_path / "b", "1")
    _version(tmp_path / "a", "2")
    _version(tmp_path / "empty", "x")
    assert [(s.name, s.base_path) for s in repo_specs(str(tmp_path))] == [
        ("a", str(tmp_path / "a")), ("b", str(tmp_path / "b"))]
