"""Each artifact of a version in its own runtime, as a callable that answers one batch.

SavedModel in-process through TensorFlow (`serving_default`, raw inputs, preprocessing in the
graph, so inside the timed call); TFLite on LiteRT and ONNX on onnxruntime through
`liveri.artifact.runner`, the version's kind encoding the raw examples in numpy as a device does,
before the timed call: what is timed is the model on prepared inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from liveri.artifact import formats
from liveri.artifact.kinds import KindError
from liveri.artifact.manifest import Manifest
from liveri.artifact.runner import open_version, version_kind
from liveri.lazy import tf

TFLITE_THREADS = (1, 2)
SAVED_MODEL_SIGNATURE = "serving_default"
SAVED_MODEL_KEY = "saved_model"  # the runner of `serving_default` in bench.json

# The model on a batch prepared ahead, timed; outputs out.
BatchFn = Callable[[], Any]
Prepared = dict[str, np.ndarray]  # a batch as the runtime takes it, indexable by example


@dataclass
class Runner:
    """One artifact in one runtime configuration, ready to be timed at any batch size."""

    key: str  # e.g. "tflite_int8/2t", unique in bench.json
    format: str
    runtime: str
    threads: int | None  # None: the runtime's default (all cores)
    prepare: Callable[[dict[str, np.ndarray]], Prepared]  # raw batch -> the runtime's arrays
    call: Callable[[Prepared], Any]  # what is timed
    beam: int | None = None  # a translator's beam size; None: not a decoder
    # raw batch -> subword tokens (with </s>) of the translations it answers (decoders only)
    tokens: Callable[[dict[str, np.ndarray]], int] | None = None

    def bind(self, raw: dict[str, np.ndarray]) -> BatchFn:
        """A zero-argument call answering `raw`, prepared before it is timed."""
        prepared = self.prepare(raw)
        return lambda: self.call(prepared)

    def describe(self) -> dict[str, Any]:
        out = {"format": self.format, "runtime": self.runtime, "threads": self.threads}
        return {**out, "beam": self.beam} if self.beam else out


def saved_model_runner(version_dir: str | Path, signature: str = SAVED_MODEL_SIGNATURE,
                       beam: int | None = None, manifest: Manifest | None = None) -> Runner:
    """A SavedModel signature in this process, as TF Serving would run it (a translator's at
    `beam`, counting its tokens with the version's vocab: `manifest` needed)."""
    fn = tf.saved_model.load(str(version_dir)).signatures[signature]
    specs = fn.structured_input_signature[1]

    def prepare(raw: dict[str, np.ndarray]) -> Prepared:
        return {name: raw[name].astype(spec.dtype.as_numpy_dtype) for name, spec in specs.items()}

    def call(feed: Prepared) -> Any:
        return fn(**{k: tf.convert_to_tensor(v) for k, v in feed.items()})

    def tokens(raw: dict[str, np.ndarray]) -> int:
        texts = [t.decode() for t in call(prepare(raw))["translation"].numpy()]
        return _translation_tokens(version_kind(version_dir, manifest), texts)

    key = SAVED_MODEL_KEY if beam is None else f"{SAVED_MODEL_KEY}/beam{beam}"
    return Runner(key=key, format="saved_model", runtime=f"tensorflow {tf.__version__}",
                  threads=None, prepare=prepare, call=call, beam=beam,
                  tokens=tokens if beam else None)


def artifact_runner(version_dir: str | Path, manifest: Manifest, fmt: str,
                    threads: int, beam: int | None = None) -> Runner:
    """A TFLite or ONNX artifact in its runtime (`liveri.artifact.runner`), fed the raw
    examples of each `serving_default` batch through the version's kind, as a device runs it;
    a translator's at `beam` (its own when None)."""
    runner = open_version(version_dir, fmt, num_threads=threads, manifest=manifest)
    if beam is not None:
        runner.model = runner.model.with_beam(beam)
    runtime = formats.get(fmt).runtime

    def prepare(raw: dict[str, np.ndarray]) -> Prepared:
        return runner.feed(runner.kind.examples_from_serving(raw))[1]

    def call(feed: Prepared) -> Any:
        return runner.model(**feed)

    def tokens(raw: dict[str, np.ndarray]) -> int:
        answers = runner.predict(runner.kind.examples_from_serving(raw))
        return _translation_tokens(runner.kind, [a["translation"] for a in answers])

    key = f"{fmt}/{threads}t" if runtime == formats.LITERT else fmt
    key = key if beam is None else f"{key}/beam{beam}"
    return Runner(key=key, format=fmt, runtime=f"{runtime} {_version_of(runtime)}",
                  threads=threads, prepare=prepare, call=call, beam=beam,
                  tokens=tokens if beam else None)


def _translation_tokens(kind: Any, texts: list[str]) -> int:
    """Subword tokens of translations as the shared vocab spells them, each with its </s>."""
    return sum(len(kind.tokenizer.encode_numpy(t)) + 1 for t in texts)


def _version_of(runtime: str) -> str:
    if runtime == formats.LITERT:
        from ai_edge_litert import __version__
    else:
        from onnxruntime import __version__
    return __version__


def artifact_runners(version_dir: str | Path, manifest: Manifest,
                     skipped: dict[str, str]) -> Iterator[Runner]:
    """Runners for every artifact the manifest lists; ones that cannot run go to `skipped`.
    A translator's run at its beam and at beam 1 (greedy), each counting the tokens it writes."""
    decoding = manifest.postprocessing.get("decoding")
    beams = (decoding["beam_size"], 1) if decoding else (None,)
    for item in manifest.artifacts:
        fmt = item.format
        try:
            runtime = formats.get(fmt).runtime
            if not formats.get(fmt).benchmarkable:
                skipped[fmt] = "not a benchmarkable format"
            elif runtime == formats.TENSORFLOW:
                for beam in beams:
                    signature = "greedy" if beam == 1 else SAVED_MODEL_SIGNATURE
                    yield saved_model_runner(version_dir, signature, beam, manifest)
            else:
                for threads in TFLITE_THREADS if runtime == formats.LITERT else (1,):
                    for beam in beams:
                        yield artifact_runner(version_dir, manifest, fmt, threads, beam)
        except (ValueError, KeyError, OSError, RuntimeError, KindError) as e:
            skipped[fmt] = f"{type(e).__name__}: {e}"
