"""Artifact loader: serve a Liveri version from its TFLite or ONNX artifact instead of TensorFlow.

Chosen per model by ModelServerConfig's `model_platform`: "tflite" (the float TFLite model),
"onnx", or any artifact format the manifest lists ("tflite_int8", "tflite_fp16", ...). Clients
must not notice the switch, so the servable keeps the SavedModel's `serving_default` signature
(same input and output names, dtypes and metadata): raw inputs go through the manifest's
`preprocessing` when the artifact takes features, and its scores through `postprocessing`.
An artifact whose recorded agreement with the trained model is below `MIN_AGREEMENT` is refused at
load, so the versions already served keep serving.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

import grpc
import numpy as np
from liveri.serve.errors import ServingError
from liveri.serve.loader import (
    DEFAULT_SIGNATURE,
    PREDICT_METHOD,
    RunFn,
    Servable,
    Signature,
    _spec,
    read_signature_defs,
)

from liveri import processing
from liveri.artifact import formats
from liveri.artifact import manifest as manifest_lib
from liveri.artifact.manifest import Artifact, Manifest
from liveri.runtimes import OnnxModel, TfliteModel

TENSORFLOW = "tensorflow"
MIN_AGREEMENT = 0.99


def _refuse(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.FAILED_PRECONDITION, message)


def artifact_for(version_path: str, platform: str) -> tuple[Manifest, Artifact]:
    """The manifest and its entry for `platform`, or FAILED_PRECONDITION saying why not."""
    fmt = formats.PLATFORM_ALIASES.get(platform, platform)
    try:
        manifest = manifest_lib.load(version_path)
    except manifest_lib.ManifestError as exc:
        raise _refuse(f"model_platform {platform!r} needs the Liveri manifest of {version_path}: "
                      f"{exc}") from None
    try:
        entry = manifest.artifact(fmt)
        servable = formats.get(fmt).servable
    except (KeyError, ValueError) as exc:
        raise _refuse(f"model_platform {platform!r}: {exc.args[0]}; use one of those or "
                      f"{TENSORFLOW!r}") from None
    if not servable:
        raise _refuse(f"model_platform {platform!r}: format {fmt} cannot be served")
    agreement = entry.metrics.get("agreement")
    if agreement is None or agreement < MIN_AGREEMENT:
        found = "no recorded agreement" if agreement is None else f"agreement {agreement:.4f}"
        raise _refuse(f"artifact {fmt} of {version_path} has {found} with the trained model; "
                      f"serving it needs at least {MIN_AGREEMENT}. Serve this model with "
                      f"model_platform {TENSORFLOW!r} or export it again")
    return manifest, entry


def _runtime(version_path: str, entry: Artifact) -> Callable[..., dict[str, np.ndarray]]:
    path = os.path.join(version_path, entry.path)
    if formats.get(entry.format).runtime == formats.ONNXRUNTIME:
        return OnnxModel(path)
    model = TfliteModel(path)
    lock = threading.Lock()  # a LiteRT interpreter runs one call at a time

    def run(**features: np.ndarray) -> dict[str, np.ndarray]:
        with lock:
            return {k: np.array(v) for k, v in model(**features).items()}

    return run


def _labels(manifest: Manifest, version_path: str) -> list[str]:
    name = manifest.labels_file or ""
    if not name:
        return []
    with open(os.path.join(version_path, name)) as f:
        return [line.rstrip("\n") for line in f]


def _adapter(manifest: Manifest, entry: Artifact, version_path: str,
             input_names: list[str], output_names: list[str]) -> RunFn:
    """Raw `serving_default` inputs in, `serving_default` outputs out, around the artifact."""
    runtime = _runtime(version_path, entry)
    artifact_inputs = [i.name for i in entry.inputs]
    artifact_outputs = [o.name for o in entry.outputs]
    takes_raw = set(artifact_inputs) == set(input_names)
    answers_all = set(output_names) <= set(artifact_outputs)
    pre = manifest.preprocessing
    post = manifest.postprocessing
    if not takes_raw and not (pre and len(artifact_inputs) == 1 and len(input_names) == 1):
        raise _refuse(f"artifact {entry.format} takes {artifact_inputs} and the manifest has no "
                      f"preprocessing from {input_names}")
    if not answers_all and not post:
        raise _refuse(f"artifact {entry.format} answers {artifact_outputs}, not "
                      f"{output_names}, and the manifest has no postprocessing")
    labels = _labels(manifest, version_path) if not answers_all else []
    scores_name = (post or {}).get("scores_output", "scores")

    def run(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if takes_raw:
            feeds = inputs
        else:
            feeds = {artifact_inputs[0]: processing.preprocess(pre, inputs[input_names[0]])}
        outputs = runtime(**feeds)
        if not answers_all:
            answer = processing.postprocess(post, outputs[scores_name], labels)
            labelled = np.empty(len(answer["labels"]), dtype=object)
            labelled[:] = [label.encode() for label in answer["labels"]]
            outputs = {**answer, "labels": labelled}
        return {name: np.asarray(outputs[name]) for name in output_names}

    return run


def load_artifact(name: str, version: int, version_path: str, platform: str) -> Servable:
    """A servable answering `serving_default` from the version's `platform` artifact."""
    started = time.perf_counter()
    manifest, entry = artifact_for(version_path, platform)
    signature_defs, _ = read_signature_defs(version_path)
    sig_def = signature_defs.get(DEFAULT_SIGNATURE)
    if sig_def is None:
        raise _refuse(f"{version_path} has no {DEFAULT_SIGNATURE} signature to keep")
    inputs = {a: _spec(a, i) for a, i in sig_def.inputs.items()}
    outputs = {a: _spec(a, i) for a, i in sig_def.outputs.items()}
    run = _adapter(manifest, entry, version_path, list(inputs), list(outputs))
    signature = Signature(DEFAULT_SIGNATURE, sig_def.method_name or PREDICT_METHOD, inputs,
                          outputs, run)
    servable = Servable(name, version, version_path, {DEFAULT_SIGNATURE: signature},
                        {DEFAULT_SIGNATURE: sig_def}, platform=entry.format)
    servable.load_seconds = time.perf_counter() - started
    return servable
