"""The manifest of an exported version (`liveri/manifest.json`), typed: the contract every stage
reads.

Export writes it; serve, mobile, the benchmarks and the release gate read it through `load`,
which checks every field against these dataclasses and refuses a manifest of an unknown schema
or with a missing or mistyped field, naming the file and the field. The JSON on disk keeps the
field names of the dataclasses; an artifact's format-specific notes (`fully_int8`, `opset`, ...)
sit beside its fields and are kept in `Artifact.notes`.

Manifests written before the schema was named (no `schema` key) are read as schema 1 with
`origin` and `skipped` at their defaults: they hold every other field.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from liveri import layout
from liveri.fileio import atomic_write_json

SCHEMA = "liveri.manifest/1"
# Manifest fields naming side files (labels, vocab) a version's kind reads.
SIDE_FILE_KEYS = ("labels_file", "vocab_file")


class ManifestError(ValueError):
    """A manifest that cannot be read: missing, not JSON, unknown schema, a field missing or of
    the wrong type. The message names the file and the field."""


@dataclass
class Tensor:
    """One input or output of an artifact as its runtime sees it."""

    name: str
    dtype: str
    shape: list[int | None]
    quantization: dict[str, Any] | None = None  # {"scale", "zero_point"} for TFLite tensors


@dataclass
class Artifact:
    """One file of the version in one format (`liveri.artifact.formats`), with its parity."""

    format: str
    path: str
    signature: str
    inputs: list[Tensor]
    outputs: list[Tensor]
    sha256: str
    bytes: int
    metrics: dict[str, Any]  # parity against the reference, and the task metric
    notes: dict[str, Any] = field(default_factory=dict)  # format-specific: fully_int8, opset...


@dataclass
class FileEntry:
    path: str
    sha256: str
    bytes: int


@dataclass
class Skipped:
    """A format that was asked for but did not convert, and the converter's reason."""

    format: str
    reason: str


@dataclass
class Manifest:
    model: str
    version: int
    experiment: str | None  # None for a model Liveri did not train
    params_hash: str | None
    checkpoint: str | None
    checkpoint_step: int | None
    commit: str
    created: str
    main_metric: str
    higher_is_better: bool
    input_kind: str
    preprocessing: dict[str, Any]
    postprocessing: dict[str, Any]
    artifacts: list[Artifact]
    files: list[FileEntry]
    export_seconds: dict[str, float]
    budgets: dict[str, Any]
    gate: dict[str, Any]
    labels_file: str | None = None
    vocab_file: str | None = None
    origin: dict[str, Any] = field(default_factory=lambda: {"kind": "experiment"})
    skipped: list[Skipped] = field(default_factory=list)
    schema: str = SCHEMA

    @property
    def metrics(self) -> dict[str, dict[str, Any]]:
        """Each artifact's parity metrics, by format."""
        return {a.format: a.metrics for a in self.artifacts}

    @property
    def formats(self) -> list[str]:
        return [a.format for a in self.artifacts]

    def artifact(self, fmt: str) -> Artifact:
        """The artifact in format `fmt`; KeyError naming the formats this version has."""
        for item in self.artifacts:
            if item.format == fmt:
                return item
        raise KeyError(f"format {fmt!r} is not in version {self.version} of {self.model} "
                       f"(it has: {', '.join(self.formats)})")

    def to_json(self) -> dict[str, Any]:
        out = _plain(self)
        out["metrics"] = self.metrics  # kept on disk for readers of the JSON alone
        return out

    @classmethod
    def from_json(cls, data: Any, source: str = layout.MANIFEST_FILE) -> Manifest:
        if not isinstance(data, dict):
            raise ManifestError(f"{source}: expected a JSON object, got {type(data).__name__}")
        schema = data.get("schema", SCHEMA)
        if schema != SCHEMA:
            raise ManifestError(f"{source}: field 'schema': unknown manifest schema {schema!r}; "
                                f"this Liveri reads {SCHEMA!r}")
        data = {k: v for k, v in data.items() if k != "metrics"}
        return _build(cls, {**data, "schema": schema}, source, "")


def _plain(obj: Any) -> Any:
    if isinstance(obj, Artifact):
        fields = {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)
                  if f.name != "notes"}
        return {**_plain(obj.notes), **fields}
    if dataclasses.is_dataclass(obj):
        return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, list):
        return [_plain(x) for x in obj]
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    return obj


def _build(cls: type, data: Any, source: str, where: str) -> Any:
    """`cls` from JSON `data`, every field checked; errors name `source` and the field path."""
    if not isinstance(data, dict):
        raise ManifestError(f"{source}: field '{where}': expected an object, got "
                            f"{type(data).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    values = {}
    for f in dataclasses.fields(cls):
        path = f"{where}.{f.name}" if where else f.name
        if f.name == "notes" and cls is Artifact:
            values["notes"] = {k: v for k, v in data.items() if k not in known}
        elif f.name in data:
            values[f.name] = _value(hints[f.name], data[f.name], source, path)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ManifestError(f"{source}: field '{path}' is missing; expected "
                                f"{_describe(hints[f.name])}")
    return cls(**values)


def _value(hint: Any, value: Any, source: str, path: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (hint,) = [a for a in args if a is not type(None)]
        return _value(hint, value, source, path)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, source, path)
    if origin is list:
        _expect(isinstance(value, list), hint, value, source, path)
        return [_value(args[0], v, source, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict or hint is dict:
        _expect(isinstance(value, dict), hint, value, source, path)
        return value
    if hint is Any:
        return value
    if hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, hint)
    _expect(ok, hint, value, source, path)
    return value


def _expect(ok: bool, hint: Any, value: Any, source: str, path: str) -> None:
    if not ok:
        raise ManifestError(f"{source}: field '{path}': expected {_describe(hint)}, got "
                            f"{type(value).__name__} {json.dumps(value, default=str)[:60]}")


def _describe(hint: Any) -> str:
    if dataclasses.is_dataclass(hint):
        return f"an object ({', '.join(f.name for f in dataclasses.fields(hint))})"
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def load(version_dir: str | Path) -> Manifest:
    """The version's manifest, checked; ManifestError names the file and what is wrong."""
    path = Path(version_dir) / layout.MANIFEST_FILE
    if not path.exists():
        raise ManifestError(f"{path} not found; expected a version written by `liveri export`")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ManifestError(f"{path}: not readable JSON ({e})") from None
    return Manifest.from_json(data, str(path))


def write(version_dir: str | Path, manifest: Manifest) -> None:
    atomic_write_json(Path(version_dir) / layout.MANIFEST_FILE, manifest.to_json())


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_entries(version_dir: Path) -> list[FileEntry]:
    """Every file of the version but the manifest itself, with its checksum."""
    entries = []
    for path in sorted(x for x in version_dir.rglob("*") if x.is_file()):
        rel = path.relative_to(version_dir).as_posix()
        if rel != layout.MANIFEST_FILE:
            entries.append(FileEntry(rel, sha256_file(path), path.stat().st_size))
    return entries


def verify(version_dir: str | Path) -> list[str]:
    """Problems found recomputing every checksum the manifest lists (empty: all good)."""
    version_dir = Path(version_dir)
    problems = []
    for entry in load(version_dir).files:
        path = version_dir / entry.path
        if not path.exists():
            problems.append(f"{entry.path}: missing")
        elif path.stat().st_size != entry.bytes or sha256_file(path) != entry.sha256:
            problems.append(f"{entry.path}: checksum mismatch (file changed)")
    return problems
