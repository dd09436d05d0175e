"""Artifact loader: serve a Liveri version from its TFLite or ONNX artifact instead of TensorFlow.

Chosen per model by ModelServerConfig's `model_platform`: "tflite" (the float TFLite model),
"onnx", or any artifact format the manifest lists ("tflite_int8", "tflite_fp16", ...). Clients
must not notice the switch, so the servable keeps the SavedModel's `serving_default` signature
(same input and output names, dtypes and metadata): the version's kind
(`liveri.artifact.kinds`) encodes the raw inputs when the artifact takes features, and decodes
its outputs into the signature's outputs.
An artifact whose recorded agreement with the trained model is below `MIN_AGREEMENT` is refused at
load, so the versions already served keep serving.
"""

from __future__ import annotations

import contextlib
import threading
import time

import numpy as np
from liveri.serve.errors import unmet
from liveri.serve.loader import (
    DEFAULT_SIGNATURE,
    PREDICT_METHOD,
    RunFn,
    Servable,
    Signature,
    _spec,
    read_signature_defs,
)

from liveri.artifact import formats
from liveri.artifact import manifest as manifest_lib
from liveri.artifact.formats import TENSORFLOW
from liveri.artifact.kinds import KindError
from liveri.artifact.manifest import Artifact, Manifest
from liveri.artifact.runner import open_version

MIN_AGREEMENT = 0.99


def artifact_for(version_path: str, platform: str) -> tuple[Manifest, Artifact]:
    """The manifest and its entry for `platform`, or FAILED_PRECONDITION saying why not."""
    fmt = formats.PLATFORM_ALIASES.get(platform, platform)
    try:
        manifest = manifest_lib.load(version_path)
    except manifest_lib.ManifestError as exc:
        raise unmet(f"model_platform {platform!r} needs the Liveri manifest of {version_path}: "
                    f"{exc}") from None
    try:
        entry = manifest.artifact(fmt)
        servable = formats.get(fmt).servable
    except (KeyError, ValueError) as exc:
        raise unmet(f"model_platform {platform!r}: {exc.args[0]}; use one of those or "
                    f"{TENSORFLOW!r}") from None
    if not servable:
        raise unmet(f"model_platform {platform!r}: format {fmt} cannot be served")
    agreement = entry.metrics.get("agreement")
    if agreement is None or agreement < MIN_AGREEMENT:
        found = "no recorded agreement" if agreement is None else f"agreement {agreement:.4f}"
        raise unmet(f"artifact {fmt} of {version_path} has {found} with the trained model; "
                    f"serving it needs at least {MIN_AGREEMENT}. Serve this model with "
                    f"model_platform {TENSORFLOW!r} or export it again")
    return manifest, entry


def artifact_run(manifest: Manifest, entry: Artifact, version_path: str,
                 output_names: list[str]) -> RunFn:
    """Raw `serving_default` inputs in, `serving_default` outputs out, around the artifact: the
    version's kind encodes the examples and decodes the artifact's outputs
    (`liveri.artifact.runner`), unless the artifact answers those outputs itself."""
    try:
        runner = open_version(version_path, entry.format, manifest=manifest)
        answers_all = set(output_names) <= {o.name for o in entry.outputs}
        if not answers_all:  # refuses kinds that cannot
            runner.kind.serving_outputs([], output_names, {})
    except (KindError, OSError) as exc:
        raise unmet(f"artifact {entry.format} of {version_path} cannot answer "
                    f"{DEFAULT_SIGNATURE}: {exc}") from None
    # A LiteRT interpreter runs one call at a time; onnxruntime sessions are thread-safe.
    one_at_a_time = formats.get(entry.format).runtime == formats.LITERT
    lock = threading.Lock() if one_at_a_time else contextlib.nullcontext()

    def run(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        examples = runner.kind.examples_from_serving(inputs)
        with lock:
            encoded, outputs = runner.run(examples)
        if answers_all:
            return {name: np.asarray(outputs[name]) for name in output_names}
        return runner.kind.serving_outputs(runner.kind.decode(encoded, outputs), output_names,
                                           outputs)

    return run


def load_artifact(name: str, version: int, version_path: str, platform: str) -> Servable:
    """A servable answering `serving_default` from the version's `platform` artifact."""
    started = time.perf_counter()
    manifest, entry = artifact_for(version_path, platform)
    signature_defs, _ = read_signature_defs(version_path)
    sig_def = signature_defs.get(DEFAULT_SIGNATURE)
    if sig_def is None:
        raise unmet(f"{version_path} has no {DEFAULT_SIGNATURE} signature to keep")
    inputs = {a: _spec(a, i) for a, i in sig_def.inputs.items()}
    outputs = {a: _spec(a, i) for a, i in sig_def.outputs.items()}
    run = artifact_run(manifest, entry, version_path, list(outputs))
    signature = Signature(DEFAULT_SIGNATURE, sig_def.method_name or PREDICT_METHOD, inputs,
                          outputs, run)
    servable = Servable(name, version, version_path, {DEFAULT_SIGNATURE: signature},
                        {DEFAULT_SIGNATURE: sig_def}, platform=entry.format)
    servable.load_seconds = time.perf_counter() - started
    return servable
