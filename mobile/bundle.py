"""A bundle opened on the device: checksums verified, model loaded on LiteRT, raw input answered.

Needs LiteRT and numpy only; it never imports TensorFlow, so it runs where only a TFLite runtime
is installed. The pre- and post-processing come from `bundle.json`, the same spec the SavedModel
applies in its graph, run by the version's kind (`liveri.artifact.kinds`) exactly as export's
parity check runs it, so the same raw input gets the same answer here as from the server.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from liveri.mobile import schema

from liveri.artifact import kinds
from liveri.artifact.kinds import InputError, KindError
from liveri.artifact.runner import Runner, tflite_model
from liveri.errors import UsageError


class BundleError(UsageError):
    """The file is not a usable bundle (not a zip, no `bundle.json`, a file missing)."""


class ChecksumMismatch(BundleError):
    """A file in the bundle is not the one the bundler packed; `file` names it."""

    def __init__(self, bundle: Path, file: str, detail: str) -> None:
        super().__init__(f"{file}: checksum mismatch in {bundle} ({detail}); the bundle is "
                         f"corrupt or was modified, rebuild it with `liveri bundle`")
        self.file = file


class Bundle:
    """One bundle, verified and loaded; `predict` answers one raw example."""

    def __init__(self, path: str | Path, num_threads: int = 1) -> None:
        self.path = Path(path)
        files = _read_members(self.path)
        self.spec: dict[str, Any] = files.pop(schema.BUNDLE_JSON)
        self.model = tflite_model(files[self.spec["model_file"]], self.spec["signature"],
                                  num_threads, self.spec["postprocessing"].get("decoding"))
        self._check_model()
        side = {key: files[self.spec[key]] for key in schema.SIDE_FILE_KEYS if self.spec.get(key)}
        try:
            self.kind = kinds.load(self.spec["preprocessing"], self.spec["postprocessing"], side)
            self.runner = Runner(self.spec["format"], self.kind, self.model,
                                 self.model.input_dtypes)
        except KindError as e:
            raise BundleError(f"{e}; this runner cannot run this bundle") from None

    @property
    def input_kind(self) -> str:
        """What raw input the bundle takes: `image`, `text` or `audio`."""
        kind = self.spec["preprocessing"]["kind"]
        return schema.RAW_INPUT_KIND.get(kind, kind)

    @property
    def vocab(self) -> list[str]:
        """The shipped vocab of a text or speech bundle (empty for others)."""
        tokenizer = getattr(self.kind, "tokenizer", None)
        return tokenizer.vocab if tokenizer else getattr(self.kind, "vocab", [])

    def expects(self) -> str:
        """The raw input in words, for error messages."""
        return self.kind.expects()

    def predict(self, x: Any) -> dict[str, Any]:
        """One raw example -> the decoded answer and its scores, as plain JSON-ready values."""
        examples = self.kind.batch_of_one(x)
        if len(examples) != 1:
            raise InputError(f"predict takes one example, got {len(examples)}; this bundle "
                             f"takes {self.expects()}")
        try:
            (answer,) = self.runner.predict(examples)
        except KindError as e:
            raise BundleError(str(e)) from None
        return answer

    def _check_model(self) -> None:
        """Refuse a model whose tensors are not the ones `bundle.json` describes."""
        for side, details in (("inputs", self.model.inputs), ("outputs", self.model.outputs)):
            declared = {t["name"]: t["dtype"] for t in self.spec[side]}
            actual = {name: np.dtype(d["dtype"]).name for name, d in details.items()}
            if declared != actual:
                raise BundleError(f"{self.spec['model_file']}: {side} are {actual} but "
                                  f"{schema.BUNDLE_JSON} declares {declared}")


def _read_members(path: Path) -> dict[str, Any]:
    """`bundle.json` (parsed) and the bytes of every file it lists; unreadable files are named."""
    if not path.is_file():
        raise BundleError(f"{path}: no such bundle file")
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            if schema.BUNDLE_JSON not in names:
                raise BundleError(f"{path}: no {schema.BUNDLE_JSON} inside; build bundles with "
                                  f"`liveri bundle`")
            raw = {schema.BUNDLE_JSON: _read_member(path, zf, schema.BUNDLE_JSON)}
            spec = json.loads(raw[schema.BUNDLE_JSON])
            for entry in spec.get("files", []):
                if entry["path"] not in names:
                    raise BundleError(f"{entry['path']}: listed in {schema.BUNDLE_JSON} but "
                                      f"missing from {path}")
                raw[entry["path"]] = _read_member(path, zf, entry["path"])
            comment = zf.comment
        if spec.get("schema") != schema.SCHEMA:
            raise BundleError(f"{path}: bundle schema {spec.get('schema')!r}; this runner reads "
                              f"{schema.SCHEMA!r}")
        _verify(path, raw, spec)
    except zipfile.BadZipFile as e:
        raise BundleError(f"{path}: not a readable zip ({e})") from None
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as e:
        raise BundleError(f"{path}: {schema.BUNDLE_JSON} is malformed ({e})") from None
    digest = hashlib.sha256(raw.pop(schema.BUNDLE_JSON)).hexdigest()
    recorded = schema.bundle_json_sha256(comment)
    if digest != recorded:
        raise ChecksumMismatch(path, schema.BUNDLE_JSON,
                               f"sha256 {digest}, the zip comment says {recorded}")
    return {schema.BUNDLE_JSON: spec, **raw}


def _read_member(path: Path, zf: zipfile.ZipFile, name: str) -> bytes:
    try:
        return zf.read(name)
    except (zipfile.BadZipFile, zlib.error) as e:
        raise ChecksumMismatch(path, name, f"unreadable: {e}") from None


def _verify(path: Path, files: dict[str, bytes], spec: dict[str, Any]) -> None:
    """Every listed file must match its recorded sha256 before anything is loaded from it."""
    for entry in spec["files"]:
        digest = hashlib.sha256(files[entry["path"]]).hexdigest()
        if digest != entry["sha256"]:
            raise ChecksumMismatch(path, entry["path"],
                                   f"sha256 {digest}, {schema.BUNDLE_JSON} says {entry['sha256']}")
    for name in [spec["model_file"]] + [spec[k] for k in schema.SIDE_FILE_KEYS if spec.get(k)]:
        if name not in files:
            raise BundleError(f"{path}: {name} is used but has no checksum in "
                              f"{schema.BUNDLE_JSON}")
