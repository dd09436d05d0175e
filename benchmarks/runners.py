"""Each artifact of a version in its own runtime, as a callable that answers one batch.

SavedModel in-process through TensorFlow (`serving_default`, raw inputs, preprocessing in the
graph); TFLite on LiteRT with the manifest's numpy preprocessing (as a device runs it); ONNX on
onnxruntime with raw inputs. Input conversion is inside the call: a client pays for it too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from liveri import processing
from liveri.artifact import formats
from liveri.artifact.manifest import Artifact, Manifest
from liveri.lazy import tf
from liveri.runtimes import OnnxModel, TfliteModel

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


def tflite_runner(version_dir: str | Path, manifest: Manifest, item: Artifact,
                  threads: int) -> Runner:
    """A TFLite variant on LiteRT, fed raw inputs through the manifest's preprocessing."""
    from ai_edge_litert import __version__ as litert_version

    model = TfliteModel(Path(version_dir) / item.path, num_threads=threads)
    spec = manifest.preprocessing
    if spec["kind"] == "text":
        # Text is tokenized with the shipped vocab, as a device does, outside the timed call.
        post = manifest.postprocessing
        vocab = (Path(version_dir) / manifest.vocab_file).read_text(encoding="utf-8")
        tokenizer = processing.text_tokenizer(spec, vocab)

        def bind(raw: dict[str, np.ndarray]) -> BatchFn:
            texts = [t.decode() if isinstance(t, bytes) else str(t) for t in raw["text"]]
            features = processing.preprocess_text(post, tokenizer, texts).features
            return lambda: model(**features)
    elif spec["kind"] == "log_mel":
        # Log-mels are computed in numpy, as a device does, outside the timed call.
        def bind(raw: dict[str, np.ndarray]) -> BatchFn:
            features = processing.preprocess_audio(spec, _waveforms(spec, raw))
            return lambda: model(**features)
    else:
        raw_name = spec["raw_input"]["name"]
        (input_name,) = model.inputs

        def bind(raw: dict[str, np.ndarray]) -> BatchFn:
            batch = raw[raw_name]
            return lambda: model(**{input_name: processing.preprocess(spec, batch)})

    return Runner(key=f"{item.format}/{threads}t", format=item.format,
                  runtime=f"litert {litert_version}", threads=threads, bind=bind)


def onnx_runner(version_dir: str | Path, item: Artifact, manifest: Manifest) -> Runner:
    """The ONNX graph on onnxruntime's CPU provider, fed raw inputs (tokenized first when it
    was converted from the `features` signature of a text model)."""
    import onnxruntime as ort

    model = OnnxModel(Path(version_dir) / item.path, num_threads=1)
    dtypes = {i.name: np.dtype(i.dtype) for i in item.inputs}
    spec = manifest.preprocessing
    if item.signature == "features" and spec.get("kind") == "text":
        vocab = (Path(version_dir) / manifest.vocab_file).read_text(encoding="utf-8")
        tokenizer = processing.text_tokenizer(spec, vocab)

        def bind(raw: dict[str, np.ndarray]) -> BatchFn:
            texts = [t.decode() if isinstance(t, bytes) else str(t) for t in raw["text"]]
            features = processing.preprocess_text(manifest.postprocessing, tokenizer,
                                                  texts).features
            feed = {name: features[name].astype(dtype) for name, dtype in dtypes.items()}
            return lambda: model(**feed)
    elif item.signature == "features" and spec.get("kind") == "log_mel":
        def bind(raw: dict[str, np.ndarray]) -> BatchFn:
            features = processing.preprocess_audio(spec, _waveforms(spec, raw))
            feed = {name: features[name].astype(dtype) for name, dtype in dtypes.items()}
            return lambda: model(**feed)
    else:
        def bind(raw: dict[str, np.ndarray]) -> BatchFn:
            feed = {name: raw[name].astype(dtype) for name, dtype in dtypes.items()}
            return lambda: model(**feed)

    return Runner(key="onnx", format="onnx", runtime=f"onnxruntime {ort.__version__}",
                  threads=1, bind=bind)


def _waveforms(spec: dict[str, Any], raw: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Each request's real samples: `serving_default` takes zero-padded waveforms and lengths."""
    return [w[:n] for w, n in zip(raw[spec["raw_input"]["name"]], raw["lengths"], strict=True)]


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
            elif runtime == formats.LITERT:
                for threads in TFLITE_THREADS:
                    yield tflite_runner(version_dir, manifest, item, threads)
            elif runtime == formats.ONNXRUNTIME:
                yield onnx_runner(version_dir, item, manifest)
        except (ValueError, KeyError, OSError, RuntimeError) as e:
            skipped[fmt] = f"{type(e).__name__}: {e}"
