"""One artifact of a version (or a bundle's model) opened in its runtime, with its kind: raw
examples in, answers out, or features in, outputs out.

Export's parity check, the server's TFLite and ONNX backends, `mobile.Bundle` and the benchmark
runners all run artifacts through this, so a raw example is encoded, run and decoded the same
way wherever it goes. Opening a SavedModel imports TensorFlow (lazily); TFLite needs only
LiteRT and ONNX only onnxruntime, so the mobile runner never imports TensorFlow.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from liveri.artifact import beam_search, formats, kinds
from liveri.artifact import manifest as manifest_lib
from liveri.artifact.kinds import Encoded, InputError, Kind, KindError
from liveri.artifact.manifest import Artifact, Manifest

Model = Callable[..., dict[str, np.ndarray]]


@dataclass
class Runner:
    """An artifact's model and the kind that encodes its input and decodes its answer."""

    format: str
    kind: Kind
    model: Model
    inputs: dict[str, np.dtype]  # the model's input names and dtypes
    takes_raw: bool = False  # the model takes `serving_default`'s inputs, not features

    def __post_init__(self) -> None:
        wanted = self.kind.feature_names
        if self.takes_raw or wanted is None and len(self.inputs) == 1:
            return
        if wanted is None or set(wanted) != set(self.inputs):
            feeds = "one input" if wanted is None else sorted(wanted)
            raise KindError(f"the model takes {sorted(self.inputs)} but {self.kind.name} input "
                            f"feeds {feeds}")

    def feed(self, examples: Sequence[Any]) -> tuple[Encoded, dict[str, np.ndarray]]:
        """Encoded examples, and the arrays the model takes for them."""
        try:
            encoded = self.kind.encode(examples)
            given = self.kind.serving_inputs(examples) if self.takes_raw else encoded.features
        except InputError as e:
            raise InputError(f"{e}; this model takes {self.kind.expects()}") from None
        if not self.takes_raw and self.kind.feature_names is None:
            given = {next(iter(self.inputs)): next(iter(given.values()))}
        return encoded, {name: np.asarray(given[name]).astype(dtype)
                         for name, dtype in self.inputs.items()}

    def run(self, examples: Sequence[Any]) -> tuple[Encoded, dict[str, np.ndarray]]:
        """(encoded examples, the model's outputs); no model call where the kind answers
        without one (text with no words)."""
        encoded, feed = self.feed(examples)
        outputs = self.model(**feed) if self.kind.needs_model(encoded) else {}
        return encoded, outputs

    def predict(self, examples: Sequence[Any]) -> list[dict[str, Any]]:
        """One answer per raw example."""
        encoded, outputs = self.run(examples)
        return self.kind.decode(encoded, outputs)


def side_files(version_dir: str | Path, manifest: Manifest) -> dict[str, bytes]:
    """The labels and vocab files a version's kind reads, by manifest key."""
    found = {}
    for key in manifest_lib.SIDE_FILE_KEYS:
        rel_path = getattr(manifest, key)
        if rel_path:
            found[key] = (Path(version_dir) / rel_path).read_bytes()
    return found


def version_kind(version_dir: str | Path, manifest: Manifest) -> Kind:
    return kinds.load(manifest.preprocessing, manifest.postprocessing,
                      side_files(version_dir, manifest))


def open_version(version_dir: str | Path, fmt: str, num_threads: int = 1,
                 manifest: Manifest | None = None) -> Runner:
    """Artifact `fmt` of the version in its runtime, ready for raw examples."""
    manifest = manifest or manifest_lib.load(version_dir)
    artifact = manifest.artifact(fmt)
    kind = version_kind(version_dir, manifest)
    model, inputs = open_model(Path(version_dir), artifact, num_threads,
                               manifest.postprocessing.get("decoding"))
    takes_raw = artifact.signature == "serving_default"
    return Runner(fmt, kind, model, inputs, takes_raw)


def open_model(version_dir: Path, artifact: Artifact, num_threads: int = 1,
               decoding: dict | None = None) -> tuple[Model, dict[str, np.dtype]]:
    """The artifact's model as a call of named numpy arrays, and its input dtypes. A model
    decoded step by step (a translator's TFLite) loops in `beam_search` as `decoding` (the
    postprocessing spec's) says."""
    from liveri import runtimes

    runtime = formats.get(artifact.format).runtime
    path = version_dir / artifact.path
    if runtime == formats.LITERT:
        model: Any = tflite_model(path, artifact.signature, num_threads, decoding)
    elif runtime == formats.ONNXRUNTIME:
        model = runtimes.OnnxModel(path, num_threads=num_threads)
    else:
        model = runtimes.SavedModelSignature(version_dir, artifact.signature)
    return model, model.input_dtypes


def tflite_model(model: str | Path | bytes, signature: str, num_threads: int = 1,
                 decoding: dict | None = None) -> Any:
    """A .tflite artifact on LiteRT: its one signature, or a step-decoded translator looping in
    `beam_search` as `decoding` says."""
    from liveri import runtimes

    if signature == beam_search.STEP_SIGNATURES:
        steps = [runtimes.TfliteModel(model, num_threads, name)
                 for name in beam_search.STEP_SIGNATURES.split("+")]
        return beam_search.StepDecoder(*steps, decoding=decoding or {})
    return runtimes.TfliteModel(model, num_threads=num_threads)


def chunked(fn: Callable[[list[Any]], tuple[list[Any], dict[str, np.ndarray]]],
            examples: Sequence[Any], size: int = 64) -> tuple[list[Any], dict[str, np.ndarray]]:
    """fn over chunks of examples: answers joined, outputs concatenated along the batch with
    per-position outputs zero-padded to the longest chunk (bounds memory for long inputs)."""
    answers: list[Any] = []
    parts: dict[str, list[np.ndarray]] = {}
    for i in range(0, len(examples), size):
        got, outputs = fn(list(examples[i:i + size]))
        answers += got
        for name, value in outputs.items():
            parts.setdefault(name, []).append(np.asarray(value))
    return answers, {name: _concatenate(values) for name, values in parts.items()}


def _concatenate(parts: list[np.ndarray]) -> np.ndarray:
    if parts[0].ndim >= 2 and len({p.shape[1] for p in parts}) > 1:
        longest = max(p.shape[1] for p in parts)
        parts = [np.pad(p, [(0, 0), (0, longest - p.shape[1])] + [(0, 0)] * (p.ndim - 2))
                 for p in parts]
    return np.concatenate(parts, axis=0)
