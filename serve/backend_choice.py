"""`--liveri_backend=auto`: a Liveri version's `serving_default` answered by its fastest artifact
within parity.

A Liveri version carries, beside its SavedModel, TFLite and ONNX artifacts, each proven against the
trained model at export (agreement and main metric in the manifest), and on a CPU they are often
many times faster than the SavedModel's graph. With `auto`, the candidates at load are the
SavedModel's own session call and every servable artifact whose agreement is at least
`artifacts.MIN_AGREEMENT` and whose main metric is within the version's release budgets
(`release.min_metric`, and at most `release.max_int8_metric_drop` worse than the SavedModel's).
Each is timed on the version's first warmup example, batch 1, in interleaved rounds (so a drift
of the machine hits them alike), and the lowest p50 answers. Clients see the same signature: the
artifact runs behind the SavedModel's `serving_default` (`artifacts.artifact_run`). A version's
other signatures take the artifacts' own encoded inputs and stay on the SavedModel.

The choice is logged, exported in /metrics (`liveri_serve_backend_p50_seconds`) and answered by
GetModelMetadata for `metadata_field: "liveri_backend"`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
from liveri.serve.artifacts import artifact_for, artifact_run
from liveri.serve.errors import ServingError, unmet
from liveri.serve.loader import DEFAULT_SIGNATURE, RunFn, Servable
from liveri.serve.tensors import to_ndarray
from liveri.serve.warmup import read_warmup_records

from liveri.artifact import formats
from liveri.artifact import manifest as manifest_lib
from liveri.budgets import quality_shortfall

log = logging.getLogger("liveri.serve")

SAVED_MODEL = "saved_model"
ROUNDS = 200
MIN_ROUNDS = 10
BUDGET_S = 3.0  # timing stops after this long (once MIN_ROUNDS are in), however slow the model


@dataclass
class BackendChoice:
    """Which backend answers a signature, each candidate's p50 and why the others were not."""

    signature: str
    backend: str
    p50_ms: dict[str, float] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        timed = ", ".join(f"{k} {v:.3f} ms" for k, v in sorted(self.p50_ms.items(),
                                                                 key=lambda kv: kv[1]))
        return f"{self.signature} answered by {self.backend} (p50 at load: {timed})"


def choose_backend(servable: Servable) -> BackendChoice | None:
    """Answer `servable`'s serving_default from its fastest candidate; None when the version is
    not a Liveri export (no manifest) or has no serving_default or warmup example to time."""
    signature = servable.signatures.get(DEFAULT_SIGNATURE)
    if signature is None:
        return None
    try:
        manifest = manifest_lib.load(servable.path)
    except manifest_lib.ManifestError:
        return None
    example = _first_example(servable.path)
    if example is None:
        return None
    choice = BackendChoice(DEFAULT_SIGNATURE, SAVED_MODEL)
    candidates: dict[str, RunFn] = {SAVED_MODEL: signature.run_direct}
    for entry in manifest.artifacts:
        if entry.format == SAVED_MODEL or not formats.get(entry.format).servable:
            continue
        try:
            artifact_for(servable.path, entry.format)  # refuses an agreement below the floor
            if shortfall := quality_shortfall(manifest, entry):
                raise unmet(shortfall)
            candidates[entry.format] = artifact_run(manifest, entry, servable.path,
                                                    list(signature.outputs))
        except ServingError as error:
            choice.refused[entry.format] = error.message
    choice.p50_ms = _timed(candidates, example, choice.refused)
    choice.backend = min(choice.p50_ms, key=choice.p50_ms.__getitem__)
    signature.run_direct = candidates[choice.backend]
    return choice


def _first_example(version_path: str) -> dict[str, np.ndarray] | None:
    """The first warmup predict request's first row: what a lone client sends."""
    for record in read_warmup_records(version_path):
        inputs = record.predict_log.request.inputs
        if inputs:
            return {k: to_ndarray(k, v)[:1] for k, v in inputs.items()}
    return None


def _timed(candidates: dict[str, RunFn], example: dict[str, np.ndarray],
           refused: dict[str, str]) -> dict[str, float]:
    """Each candidate's p50 in ms over interleaved rounds; one that fails is moved to
    `refused` (the SavedModel, the reference, is never dropped)."""
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    for name, run in list(candidates.items()):  # the first call pays for lazy set-up
        try:
            run(example)
        except Exception as exc:  # noqa: BLE001 (runtimes raise many types)
            if name == SAVED_MODEL:
                raise
            refused[name] = f"fails on the warmup example: {exc}"
            del samples[name]
    started = time.perf_counter()
    for i in range(ROUNDS):
        if i >= MIN_ROUNDS and time.perf_counter() - started > BUDGET_S:
            break
        order = list(samples) if i % 2 == 0 else list(reversed(samples))
        for name in order:
            t0 = time.perf_counter()
            candidates[name](example)
            samples[name].append(time.perf_counter() - t0)
    return {name: float(np.median(s)) * 1e3 for name, s in samples.items()}
