"""Pack one exported TFLite artifact of a model version into a device bundle (a zip).

A device never sees the model repository: everything it needs to turn raw input into an answer
travels in the zip, described by `bundle.json`. Reads the repository through the manifest only.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

from liveri.mobile import schema
from liveri.mobile.choose import choose

from liveri import layout
from liveri.artifact import formats, manifest
from liveri.artifact.manifest import Artifact, Manifest, Tensor
from liveri.errors import UsageError
from liveri.fileio import atomic_write_bytes

# Fixed timestamps make the same version and format give the same zip, byte for byte.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def make_bundle(model_repo: str | Path, name: str, version: int | None = None,
                fmt: str | None = None, *, out: str | Path) -> Path:
    """Write the bundle of MODEL/VERSION's `fmt` artifact (None: chosen by measurement,
    `choose`) to `out` (atomically); returns `out`."""
    version_dir = _version_dir(Path(model_repo), name, version)
    try:
        source = manifest.load(version_dir)
    except manifest.ManifestError as e:
        raise UsageError(str(e)) from None
    if fmt is None:
        artifact, chosen = choose(version_dir, source)
    else:
        artifact, chosen = _tflite_artifact(source, fmt), {"prefer": "--format", "why": fmt}
    model_bytes = _checked_read(version_dir, artifact.path, artifact.sha256)
    side_files = _side_files(version_dir, source)
    members = {schema.MODEL_FILE: model_bytes, **{n: data for n, (_, data) in side_files.items()}}
    description = describe(source, artifact, side_files, model_bytes,
                           manifest_bytes=(version_dir / layout.MANIFEST_FILE).read_bytes())
    description["chosen"] = chosen
    members[schema.BUNDLE_JSON] = _json_bytes(description)
    out = Path(out)
    # Written to a temporary name beside `out`, then renamed: a half-written bundle is never seen.
    atomic_write_bytes(out, _zip_bytes(members))
    return out


def describe(source: Manifest, artifact: Artifact,
             side_files: dict[str, tuple[str, bytes]], model_bytes: bytes,
             manifest_bytes: bytes) -> dict[str, Any]:
    """`bundle.json`: what the device must feed the model, how to read its answer, and provenance."""
    side_names = {key: zip_name for zip_name, (key, _) in side_files.items()}
    # The specs name their side files as the repository did; in the zip they sit at the top.
    preprocessing = dict(source.preprocessing)
    postprocessing = dict(source.postprocessing)
    for spec in (preprocessing, postprocessing):
        for key in schema.SIDE_FILE_KEYS:
            if key in spec and key in side_names:
                spec[key] = side_names[key]
    return {
        "schema": schema.SCHEMA,
        "model_file": schema.MODEL_FILE,
        "format": artifact.format,
        "signature": artifact.signature,
        "select_tf_ops": bool(artifact.notes.get("select_tf_ops", False)),
        "inputs": [_tensor(t) for t in artifact.inputs],
        "outputs": [_tensor(t) for t in artifact.outputs],
        "preprocessing": preprocessing,
        "postprocessing": postprocessing,
        **side_names,
        "files": [schema.file_entry(schema.MODEL_FILE, model_bytes)]
        + [schema.file_entry(n, data) for n, (_, data) in side_files.items()],
        "source": {
            "model": source.model,
            "version": source.version,
            "experiment": source.experiment,
            "params_hash": source.params_hash,
            "format": artifact.format,
            "artifact_path": artifact.path,
            "artifact_sha256": artifact.sha256,
            "manifest_sha256": hashlib.sha256(manifest_bytes).hexdigest(),
            "checkpoint_step": source.checkpoint_step,
            "commit": source.commit,
            "created": source.created,
            "export_metrics": artifact.metrics,
        },
    }


def _version_dir(model_repo: Path, name: str, version: int | None) -> Path:
    model_dir = model_repo / name
    if not model_dir.is_dir():
        have = sorted(p.name for p in model_repo.iterdir() if p.is_dir()) \
            if model_repo.is_dir() else []
        where = f"(it has: {', '.join(have)})" if have else "(it has no models)"
        raise UsageError(f"model {name!r} not found in {model_repo} {where}")
    found = layout.versions(model_dir)
    if not found:
        raise UsageError(f"model {name!r} in {model_repo} has no versions; run `liveri export`")
    if version is None:
        return found[max(found)]
    if version not in found:
        raise UsageError(f"version {version} of {name!r} not found in {model_repo} "
                         f"(it has: {', '.join(map(str, found))})")
    return found[version]


def _tflite_artifact(source: Manifest, fmt: str) -> Artifact:
    tflite = [f for f in source.formats if f in formats.BUNDLEABLE]
    have = f"(version {source.version} has: {', '.join(tflite) or 'no TFLite artifact'})"
    if fmt not in formats.BUNDLEABLE:
        raise UsageError(f"format {fmt!r} cannot be bundled: a bundle holds a TFLite model {have}")
    try:
        return source.artifact(fmt)
    except KeyError:
        raise UsageError(f"format {fmt!r} was not exported {have}; export it with "
                         f"`liveri export --formats {fmt}`") from None


def _checked_read(version_dir: Path, rel_path: str, sha256: str | None) -> bytes:
    """A repository file's bytes, refusing one that no longer matches the manifest."""
    path = version_dir / rel_path
    if not path.is_file():
        raise UsageError(f"{path} is listed in the manifest but missing")
    data = path.read_bytes()
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise UsageError(f"{path}: checksum does not match the manifest (file changed); "
                         f"check with `liveri export --verify {version_dir}`")
    return data


def _side_files(version_dir: Path, source: Manifest) -> dict[str, tuple[str, bytes]]:
    """{name in the zip: (manifest key, bytes)} for the labels and vocab files the model needs."""
    listed = {f.path: f.sha256 for f in source.files}
    found = {}
    for key in schema.SIDE_FILE_KEYS:
        rel_path = getattr(source, key)
        if rel_path:
            found[Path(rel_path).name] = (key, _checked_read(version_dir, rel_path,
                                                             listed.get(rel_path)))
    return found


def _tensor(spec: Tensor) -> dict[str, Any]:
    quant = spec.quantization or {}
    return {"name": spec.name, "dtype": spec.dtype, "shape": spec.shape,
            "quantization": {"scale": float(quant.get("scale", 0.0)),
                             "zero_point": int(quant.get("zero_point", 0))}}


def _json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode()


def _zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name in sorted(members):
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.external_attr = 0o644 << 16
            # The model is stored uncompressed so a device can map it straight from the zip.
            info.compress_type = (zipfile.ZIP_STORED if name == schema.MODEL_FILE
                                  else zipfile.ZIP_DEFLATED)
            zf.writestr(info, members[name])
        zf.comment = schema.zip_comment(members[schema.BUNDLE_JSON])
    return buffer.getvalue()
