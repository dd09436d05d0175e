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
from liveri.artifact.runner import open_version
from liveri.lazy import tf

TFLITE_THREADS = (1, 2)
SAVED_MODEL_SIGNATURE = "serving_default"

# A prepared batch in, the model's outputs out.
BatchFn = Callable[[], Any]


@dataclass
class Runner:
    """One artifact in one runtime configuration, ready to be timed at any batch size."""

    key: str  # e.g. "tflite_int8/2t", unique in bench.json
    format: str
    runtime: str
    threads: int | None  # None: the runtime's default (all cores)
    bind: Callable[[dict[str, np.ndarray]], BatchFn]  # raw batch -> a zero-argument call

    def describe(self) -> dict[str, Any]:
        return {"format": self.format, "runtime": self.runtime, "threads": self.threads}


def saved_model_runner(version_dir: str | Path) -> Runner:
    """The SavedModel's serving signature in this process, as TF Serving would run it."""
    fn = tf.saved_model.load(str(version_dir)).signatures[SAVED_MODEL_SIGNATURE]
    specs = fn.structured_input_signature[1]

    def bind(raw: dict[str, np.ndarray]) -> BatchFn:
        feed = {name: raw[name].astype(spec.dtype.as_numpy_dtype) for name, spec in specs.items()}
        return lambda: fn(**{k: tf.convert_to_tensor(v) for k, v in feed.items()})

    return Runner(key="saved_model", format="saved_model", runtime=f"tensorflow {tf.__version__}",
                  threads=None, bind=bind)


def artifact_runner(version_dir: str | Path, manifest: Manifest, fmt: str,
                    threads: int) -> Runner:
    """A TFLite or ONNX artifact in its runtime (`liveri.artifact.runner`), fed the raw
    examples of each `serving_default` batch through the version's kind, as a device runs it."""
    runner = open_version(version_dir, fmt, num_threads=threads, manifest=manifest)
    runtime = formats.get(fmt).runtime

    def bind(raw: dict[str, np.ndarray]) -> BatchFn:
        _, feed = runner.feed(runner.kind.examples_from_serving(raw))
        return lambda: runner.model(**feed)

    key = f"{fmt}/{threads}t" if runtime == formats.LITERT else fmt
    return Runner(key=key, format=fmt, runtime=f"{runtime} {_version_of(runtime)}",
                  threads=threads, bind=bind)


def _version_of(runtime: str) -> str:
    if runtime == formats.LITERT:
        from ai_edge_litert import __version__
    else:
        from onnxruntime import __version__
    return __version__


def artifact_runners(version_dir: str | Path, manifest: Manifest,
                     skipped: dict[str, str]) -> Iterator[Runner]:
    """Runners for every artifact the manifest lists; ones that cannot run go to `skipped`."""
    for item in manifest.artifacts:
        fmt = item.format
        try:
            runtime = formats.get(fmt).runtime
            if not formats.get(fmt).benchmarkable:
                skipped[fmt] = "not a benchmarkable format"
            elif runtime == formats.TENSORFLOW:
                yield saved_model_runner(version_dir)
            else:
                for threads in TFLITE_THREADS if runtime == formats.LITERT else (1,):
                    yield artifact_runner(version_dir, manifest, fmt, threads)
        except (ValueError, KeyError, OSError, RuntimeError, KindError) as e:
            skipped[fmt] = f"{type(e).__name__}: {e}"
