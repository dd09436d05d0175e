"""The model card of a release: what the model is, what it was trained and judged on, its limits.

Every line comes from files (manifest, logdir, params, bench), so the card cannot drift from the
artifacts it describes.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

from liveri.train import registry

from liveri.artifact.manifest import Manifest, sha256_file
from liveri.params import Params


def model_card(experiment: str, params: Params, logdir: Path, manifest: Manifest,
               bench: dict[str, Any] | None) -> dict[str, Any]:
    """The card as JSON; `report.py` renders it as markdown."""
    main = manifest.main_metric
    raw = manifest.preprocessing.get("raw_input", {})
    train_metrics = _read_json(logdir / "metrics.json")
    logdir_params = logdir / "params.txt"
    return {
        "model": manifest.model,
        "version": manifest.version,
        "experiment": experiment,
        "description": _first_line(registry.get(experiment).__doc__),
        "data": _data_description(params),
        "provenance": {
            "checkpoint_step": manifest.checkpoint_step,
            "commit": manifest.commit,
            "created": manifest.created,
            "params_hash": manifest.params_hash,
            "exported_from_this_logdir": (logdir_params.exists() and sha256_file(logdir_params)
                                          == manifest.params_hash),
        },
        "main_metric": main,
        "higher_is_better": manifest.higher_is_better,
        "eval_metrics": train_metrics,
        "metrics_per_artifact": manifest.metrics,
        "sizes_bytes": _sizes(manifest, bench),
        "intended_use": (
            f"Answers {', '.join(o.name for o in manifest.artifact('saved_model').outputs)} for {raw.get('name', '?')} "
            f"({raw.get('dtype', '?')}, shape {raw.get('shape', '?')}, values in "
            f"{raw.get('range', '?')}) like the training data: served as the SavedModel over "
            "gRPC/REST, or on devices as the TFLite bundle."
        ),
        "limits": _limits(manifest, bench),
    }


def _data_description(params: Params) -> str:
    cls = params.input.cls
    doc = inspect.getmodule(cls).__doc__ if inspect.getmodule(cls) else None
    splits = ", ".join(f"{k.split('.')[-1]}={v}" for k, v in params.items()
                       if k.startswith("input.") and k.endswith("_fraction"))
    return f"{_first_line(doc or cls.__doc__) or cls.__name__} ({cls.__name__}; {splits})"


def _limits(manifest: Manifest, bench: dict[str, Any] | None) -> list[str]:
    main = manifest.main_metric
    metrics = manifest.metrics
    examples = next(iter(metrics.values()), {}).get("examples", "?")
    raw = manifest.preprocessing.get("raw_input", {})
    lines = [
        f"Judged on {examples} held-out examples from the same source as the training data; "
        "inputs from another distribution are not covered.",
        f"Inputs must match the raw spec (shape {raw.get('shape')}, range {raw.get('range')}); "
        "nothing checks that values outside the range make sense.",
    ]
    worst = min(metrics.items(), key=lambda kv: kv[1].get(main, 0.0), default=None)
    if worst:
        lines.append(f"Lowest {main} among artifacts: {worst[0]} at {worst[1].get(main):.4f}; "
                     "quantized artifacts may disagree with the float model on some inputs "
                     f"(int8 agreement {metrics.get('tflite_int8', {}).get('agreement', 'n/a')}).")
    if bench:
        host = bench.get("host", {})
        lines.append(f"Latency figures hold for the machine they were measured on "
                     f"({host.get('node')}, {host.get('cpus')} CPUs, {host.get('machine')}); "
                     "other hardware needs its own bench.")
    return lines


def _sizes(manifest: Manifest, bench: dict[str, Any] | None) -> dict[str, int]:
    """Each artifact's bytes as the bench measured them (a SavedModel with its variables), else
    as the manifest lists them."""
    measured = (bench or {}).get("formats", {})
    return {a.format: measured.get(a.format, {}).get("bytes", a.bytes) for a in manifest.artifacts}


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().split("\n")[0]


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def foreign_model_card(manifest: Manifest, bench: dict[str, Any] | None) -> dict[str, Any]:
    """The card of a model trained elsewhere: what the manifest knows (no training data, no task
    metric: parity against its own SavedModel is what was judged)."""
    saved_model = manifest.artifact("saved_model")
    origin = manifest.origin
    return {
        "model": manifest.model,
        "version": manifest.version,
        "experiment": None,
        "description": f"A {origin.get('kind', 'model')} trained elsewhere, exported from "
                       f"{origin.get('path', '?')} (signature {saved_model.signature}).",
        "data": f"examples: {origin.get('examples', '?')}",
        "provenance": {"commit": manifest.commit, "created": manifest.created,
                       "origin": origin},
        "main_metric": manifest.main_metric,
        "higher_is_better": manifest.higher_is_better,
        "eval_metrics": {},
        "metrics_per_artifact": manifest.metrics,
        "sizes_bytes": _sizes(manifest, bench),
        "intended_use": (
            f"Answers {', '.join(o.name for o in saved_model.outputs)} for "
            f"{', '.join(f'{t.name} ({t.dtype} {t.shape})' for t in saved_model.inputs)}, as "
            "the source model does."),
        "limits": ["Parity was measured against the source SavedModel on the export's "
                   "examples only; the model's quality was not judged here."]
                  + [f"{s.format} was not exported: {s.reason.splitlines()[0][:200]}"
                     for s in manifest.skipped],
    }
