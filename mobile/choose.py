"""Which TFLite artifact a bundle packs, chosen by measurement (`liveri bundle` without
`--format`).

Candidates are the version's bundleable artifacts whose main metric meets the release budgets:
`release.min_metric`, and at most `release.max_int8_metric_drop` worse than the SavedModel's.
Among them, `release.bundle_prefer` picks the smallest file (`size`) or the lowest p50 at
`release.bundle_batch` examples on one LiteRT thread in the version's bench (`latency`; run
`liveri bench` first). The choice and its reason go into bundle.json (`chosen`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from liveri import layout
from liveri.artifact import formats
from liveri.artifact.manifest import Artifact, Manifest
from liveri.budgets import ReleaseParams, quality_shortfall
from liveri.errors import UsageError

PREFERENCES = ("size", "latency")


def choose(version_dir: Path, source: Manifest) -> tuple[Artifact, dict[str, Any]]:
    """(the artifact to bundle, bundle.json's `chosen`: preference, candidates, reason)."""
    budgets = {**dict(ReleaseParams().items()), **source.budgets}
    prefer, batch = budgets["bundle_prefer"], int(budgets["bundle_batch"])
    if prefer not in PREFERENCES:
        raise UsageError(f"release.bundle_prefer: expected size or latency, got {prefer!r}")
    fit, refused = _within_budget(source)
    if not fit:
        raise UsageError("no bundleable artifact meets the release budgets: "
                         + "; ".join(f"{k}: {v}" for k, v in refused.items()))
    measure = {a.format: float(a.bytes) for a in fit} if prefer == "size" else _p50_ms(
        version_dir, fit, batch)
    best = min(fit, key=lambda a: measure[a.format])
    unit = "bytes" if prefer == "size" else f"ms p50 at batch {batch}, one thread"
    return best, {
        "prefer": prefer, "batch": batch if prefer == "latency" else None,
        "measured": {k: round(v, 4) for k, v in measure.items()}, "unit": unit,
        "refused": refused,
        "why": (f"{best.format}: the {'smallest' if prefer == 'size' else 'fastest'} of the "
                f"artifacts within the release budgets ({measure[best.format]:.4g} {unit})")}


def _within_budget(source: Manifest) -> tuple[list[Artifact], dict[str, str]]:
    fit, refused = [], {}
    for artifact in source.artifacts:
        if artifact.format not in formats.BUNDLEABLE:
            continue
        shortfall = quality_shortfall(source, artifact)
        if shortfall:
            refused[artifact.format] = shortfall
        else:
            fit.append(artifact)
    return fit, refused


def _p50_ms(version_dir: Path, fit: list[Artifact], batch: int) -> dict[str, float]:
    path = version_dir / layout.BENCH_DIR / layout.BENCH_FILE
    if not path.exists():
        raise UsageError(f"release.bundle_prefer=latency reads the version's bench, and "
                         f"{path} is missing; run `liveri bench` on this version first")
    rows = json.loads(path.read_text())["artifacts"]
    found = {r["format"]: r["p50_ms"] for r in rows
             if r["batch_size"] == batch and r.get("threads") == 1}
    missing = [a.format for a in fit if a.format not in found]
    if missing:
        raise UsageError(f"{path} has no one-thread p50 at batch {batch} for "
                         f"{', '.join(missing)}; release.bundle_batch must be a batch size "
                         "`liveri bench` measured")
    return {a.format: found[a.format] for a in fit}
