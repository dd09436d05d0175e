"""Latency samples -> the summary figures every benchmark reports (percentiles in ms, rate)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

PERCENTILES = (50, 90, 99)


def summarize(latencies_s: Sequence[float], examples_per_call: int = 1,
              wall_s: float | None = None) -> dict[str, Any]:
    """p50/p90/p99/mean latency in ms and throughput in examples/s.

    Throughput is examples over wall time when the calls overlapped (a load generator), else
    examples over the summed latencies (one call at a time).
    """
    x = np.asarray(latencies_s, dtype=np.float64)
    if x.size == 0:
        raise ValueError("no latency samples to summarize")
    p50, p90, p99 = np.percentile(x, PERCENTILES) * 1e3
    busy_s = wall_s if wall_s is not None else float(x.sum())
    return {
        "p50_ms": float(p50),
        "p90_ms": float(p90),
        "p99_ms": float(p99),
        "mean_ms": float(x.mean() * 1e3),
        "min_ms": float(x.min() * 1e3),
        "max_ms": float(x.max() * 1e3),
        "samples": int(x.size),
        "throughput": float(x.size * examples_per_call / busy_s) if busy_s > 0 else 0.0,
    }


def histogram_ms(latencies_s: Sequence[float], bins: int = 40) -> dict[str, list[float]]:
    """A compact latency histogram (ms) kept in bench.json so plots can be redrawn later."""
    x = np.asarray(latencies_s, dtype=np.float64) * 1e3
    hi = float(np.percentile(x, 99.5)) if x.size else 1.0
    counts, edges = np.histogram(np.clip(x, None, hi), bins=bins)
    return {"edges_ms": [float(e) for e in edges], "counts": [int(c) for c in counts]}
