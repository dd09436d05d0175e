"""A bundle opened on the device: checksums verified, model loaded on LiteRT, raw input answered.

Needs LiteRT and numpy only; it never imports TensorFlow, so it runs where only a TFLite runtime
is installed. The pre- and post-processing come from `bundle.json`, the same spec the SavedModel
applies in its graph, so the same raw input gets the same answer here as from the server.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from liveri.mobile import schema

from liveri import audio, processing
from liveri.errors import UsageError
from liveri.runtimes import TfliteModel
from liveri.tokenization import Tokenizer


class BundleError(UsageError):
    """The file is not a usable bundle (not a zip, no `bundle.json`, a file missing)."""


class ChecksumMismatch(BundleError):
    """A file in the bundle is not the one the bundler packed; `file` names it."""

    def __init__(self, bundle: Path, file: str, detail: str) -> None:
        super().__init__(f"{file}: checksum mismatch in {bundle} ({detail}); the bundle is "
                         f"corrupt or was modified, rebuild it with `liveri bundle`")
        self.file = file


class InputError(UsageError):
    """The raw input does not fit what the bundle's model takes."""


class Bundle:
    """One bundle, verified and loaded; `predict` answers one raw example."""

    def __init__(self, path: str | Path, num_threads: int = 1) -> None:
        self.path = Path(path)
        files = _read_members(self.path)
        self.spec: dict[str, Any] = files.pop(schema.BUNDLE_JSON)
        self.labels = _read_labels(files, self.spec)
        self.tokenizer = _read_tokenizer(files, self.spec) if self.input_kind == "text" else None
        self.vocab = _read_vocab(files, self.spec) if self.input_kind == "audio" else []
        self.model = TfliteModel(files[self.spec["model_file"]], num_threads=num_threads)
        self._check_model()

    @property
    def input_kind(self) -> str:
        """What raw input the bundle takes: `image`, `text` or `audio`."""
        kind = self.spec["preprocessing"]["kind"]
        return schema.RAW_INPUT_KIND.get(kind, kind)

    def expects(self) -> str:
        """The raw input in words, for error messages."""
        if self.input_kind == "text":
            return "one text example (a str)"
        raw = self.spec["preprocessing"].get("raw_input", {})
        parts = [f"one {self.input_kind} example"]
        if "name" in raw:
            parts.append(f"{raw['name']!r}")
        if "shape" in raw:
            parts.append(f"shape {list(raw['shape'])}")
        if "dtype" in raw:
            parts.append(f"dtype {raw['dtype']}")
        if "range" in raw:
            parts.append(f"values {raw['range'][0]}..{raw['range'][1]}")
        if raw.get("channels") == 1:
            parts.append("mono")
        if "sample_rate" in raw:
            parts.append(f"{raw['sample_rate']} Hz")
        return ", ".join(parts)

    def predict(self, x: Any) -> dict[str, Any]:
        """One raw example -> the decoded answer and its scores, as plain JSON-ready values."""
        if self.tokenizer is not None:
            return self._predict_text(self.tokenizer, x)
        if self.input_kind == "audio":
            return self._predict_audio(x)
        try:
            features = processing.preprocess(self.spec["preprocessing"], x)
        except ValueError as e:
            raise InputError(f"{e}; this bundle takes {self.expects()}") from None
        if len(features) != 1:
            raise InputError(f"predict takes one example, got {len(features)}; this bundle "
                             f"takes {self.expects()}")
        (input_name,) = self.model.inputs
        outputs = self.model(**{input_name: features})
        post = self.spec["postprocessing"]
        kind = post["kind"]
        if kind not in _ONE_EXAMPLE:
            raise BundleError(f"postprocessing kind {kind!r} is not supported by this runner")
        return _ONE_EXAMPLE[kind](post, outputs, self.labels)

    def _predict_text(self, tokenizer: Tokenizer, x: Any) -> dict[str, Any]:
        """Tokens from the shipped vocab in, the answer `serving_default` decodes out."""
        if isinstance(x, bytes):
            try:
                x = x.decode("utf-8")
            except UnicodeDecodeError as e:
                raise InputError(f"text: not UTF-8 ({e}); this bundle takes "
                                 f"{self.expects()}") from None
        post = self.spec["postprocessing"]
        try:
            batch = processing.preprocess_text(post, tokenizer, [x])
        except ValueError as e:
            raise InputError(f"{e}; this bundle takes {self.expects()}") from None
        # Text with no tokens (no words to punctuate) is answered without the model: a row of
        # padding only would divide by zero in a full-int8 graph.
        outputs = self.model(**batch.features) if any(batch.lengths) else {}
        (answer,) = processing.postprocess_text(post, tokenizer, batch, outputs)
        return answer

    def _predict_audio(self, waveform: Any) -> dict[str, Any]:
        """Log-mels computed here in numpy, the transcript decoded from the per-frame scores."""
        post = self.spec["postprocessing"]
        try:
            features = processing.preprocess_audio(self.spec["preprocessing"], [waveform])
        except ValueError as e:
            raise InputError(f"{e}; this bundle takes {self.expects()}") from None
        outputs = self.model(**features)
        try:
            (answer,) = processing.postprocess_ctc(post, self.vocab,
                                                   outputs[post["scores_output"]],
                                                   features["paddings"])
        except ValueError as e:
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
        if self.tokenizer is not None:
            try:
                fed = processing.text_input_names(self.spec["postprocessing"])
            except ValueError as e:
                raise BundleError(f"{e}; this runner cannot decode this bundle") from None
            if set(fed) != set(self.model.inputs):
                raise BundleError(f"the model takes {sorted(self.model.inputs)} but "
                                  f"{self.spec['postprocessing']['kind']!r} text feeds "
                                  f"{sorted(fed)}")
        elif self.input_kind == "audio":
            if set(self.model.inputs) != set(processing.AUDIO_INPUTS):
                raise BundleError(f"the model takes {sorted(self.model.inputs)} but log-mel "
                                  f"audio feeds {sorted(processing.AUDIO_INPUTS)}")
            try:
                audio.LogMelConfig.from_spec(self.spec["preprocessing"])
            except ValueError as e:
                raise BundleError(f"{e}; this runner cannot compute this bundle's features") \
                    from None
        elif len(self.model.inputs) != 1:
            raise BundleError(f"this runner feeds one input; the model takes "
                              f"{sorted(self.model.inputs)}")


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


def _read_labels(files: dict[str, bytes], spec: dict[str, Any]) -> list[str]:
    name = spec.get("labels_file")
    return files[name].decode().splitlines() if name else []


def _read_tokenizer(files: dict[str, bytes], spec: dict[str, Any]) -> Tokenizer:
    """The tokenizer over the bundle's (checksum-verified) vocab file."""
    name = spec.get("vocab_file")
    if not name:
        raise BundleError(f"a text bundle needs a vocab file, but {schema.BUNDLE_JSON} names none")
    try:
        return processing.text_tokenizer(spec["preprocessing"], files[name].decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise BundleError(f"{name}: not a usable vocab ({e})") from None


def _read_vocab(files: dict[str, bytes], spec: dict[str, Any]) -> list[str]:
    """The (checksum-verified) vocab the decoder spells ids with: one token per line."""
    name = spec.get("vocab_file")
    if not name:
        raise BundleError(f"an audio bundle needs a vocab file, but {schema.BUNDLE_JSON} names "
                          f"none")
    try:
        return Tokenizer.from_text(files[name].decode("utf-8")).vocab
    except (ValueError, UnicodeDecodeError) as e:
        raise BundleError(f"{name}: not a usable vocab ({e})") from None


def _classification(post: dict[str, Any], outputs: dict[str, np.ndarray],
                    labels: list[str]) -> dict[str, Any]:
    scores = outputs[post["scores_output"]]
    if labels and scores.shape[-1] != len(labels):
        raise BundleError(f"the model scores {scores.shape[-1]} classes but the labels file has "
                          f"{len(labels)}")
    answer = processing.postprocess(post, scores,
                                    labels or [str(i) for i in range(scores.shape[-1])])
    return {"class_id": int(answer["classes"][0]), "label": answer["labels"][0],
            "scores": [float(s) for s in answer["scores"][0]]}


# One image example's answer for each postprocessing kind; audio kinds plug in here.
_ONE_EXAMPLE: dict[str, Callable[[dict[str, Any], dict[str, np.ndarray], list[str]],
                                 dict[str, Any]]] = {"classify": _classification}
