"""PNG plots of a bench a person can read: where the time goes, and how the server bends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

LATENCY_PLOT = "latency_distribution.png"
BATCH_PLOT = "latency_by_batch.png"
CONCURRENCY_PLOT = "server_concurrency.png"
RATE_PLOT = "server_latency_vs_rate.png"
FORMATS_PLOT = "formats_size_and_export_time.png"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def latency_distribution(samples_ms: dict[str, np.ndarray], path: Path, title: str) -> Path:
    """Batch-1 latency of every artifact (and the server), box = p25..p75, whiskers p1..p99."""
    plt = _pyplot()
    names = list(samples_ms)
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(names) + 1.6))
    ax.boxplot([samples_ms[n] for n in names], vert=False, whis=(1, 99), showfliers=False,
               tick_labels=names)
    for i, name in enumerate(names, start=1):
        p99 = float(np.percentile(samples_ms[name], 99))
        ax.plot([p99], [i], marker="|", color="crimson", markersize=12)
    ax.set_xscale("log")
    ax.set_xlabel("latency per call, ms (log scale); red tick = p99")
    ax.set_title(title)
    ax.grid(axis="x", which="both", alpha=0.3)
    return _save(fig, plt, path)


def latency_by_batch(rows: list[dict[str, Any]], path: Path, title: str) -> Path:
    """p50 and p99 of every artifact at each batch size (grouped bars, p99 as the outline)."""
    plt = _pyplot()
    keys = list(dict.fromkeys(r["key"] for r in rows))
    batches = sorted({r["batch_size"] for r in rows})
    width = 0.8 / len(batches)
    fig, ax = plt.subplots(figsize=(max(8, 0.9 * len(keys)), 4.5))
    for j, b in enumerate(batches):
        by_key = {r["key"]: r for r in rows if r["batch_size"] == b}
        xs = np.arange(len(keys)) + (j - (len(batches) - 1) / 2) * width
        p50 = [by_key[k]["p50_ms"] if k in by_key else 0 for k in keys]
        p99 = [by_key[k]["p99_ms"] if k in by_key else 0 for k in keys]
        bars = ax.bar(xs, p50, width, label=f"batch {b} p50")
        ax.bar(xs, p99, width, fill=False, edgecolor=bars.patches[0].get_facecolor(), lw=1)
    ax.set_xticks(np.arange(len(keys)), keys, rotation=30, ha="right")
    ax.set_yscale("log")
    ax.set_ylabel("latency per call, ms (filled p50, outline p99)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(axis="y", which="both", alpha=0.3)
    return _save(fig, plt, path)


def server_concurrency(sweep: list[dict[str, Any]], path: Path, title: str) -> Path:
    """Throughput and p99 against queries in flight: where more load stops buying more QPS."""
    plt = _pyplot()
    rows = [r for r in sweep if r.get("samples")]
    c = [r["concurrency"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(c, [r["throughput"] for r in rows], "o-", color="tab:blue")
    ax.set_xscale("log", base=2)
    ax.set_xticks(c, [str(v) for v in c])
    ax.set_xlabel("queries in flight (batch 1)")
    ax.set_ylabel("throughput, queries/s", color="tab:blue")
    right = ax.twinx()
    right.plot(c, [r["p99_ms"] for r in rows], "s--", color="tab:red", label="p99")
    right.plot(c, [r["p50_ms"] for r in rows], "^:", color="tab:orange", label="p50")
    right.set_ylabel("latency, ms", color="tab:red")
    right.legend(loc="upper left", fontsize=8)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return _save(fig, plt, path)


def latency_vs_rate(points: list[dict[str, Any]], budget_ms: float, path: Path,
                    title: str) -> Path:
    """p50/p99 against offered Poisson rate, with the budget the Server scenario must hold;
    the rates LoadGen judged INVALID are crossed out."""
    plt = _pyplot()
    rows = [p for p in points if p.get("p99_ms") is not None]
    rate = [p["offered_qps"] for p in rows]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(rate, [p["p99_ms"] for p in rows], "s-", color="tab:red", label="p99")
    ax.plot(rate, [p["p90_ms"] for p in rows], "o-", color="tab:purple", label="p90")
    ax.plot(rate, [p["p50_ms"] for p in rows], "^-", color="tab:orange", label="p50")
    invalid = [p for p in rows if p["validity"] != "VALID"]
    ax.plot([p["offered_qps"] for p in invalid], [p["p99_ms"] for p in invalid], "x",
            color="black", ms=12, label="LoadGen: INVALID")
    ax.axhline(budget_ms, color="black", ls="--", lw=1, label=f"budget {budget_ms:g} ms")
    ax.set_yscale("log")
    ax.set_xlabel("offered rate, queries/s (Poisson arrivals, batch 1)")
    ax.set_ylabel("latency from arrival, ms")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    return _save(fig, plt, path)


def formats(formats: dict[str, dict[str, Any]], path: Path, title: str) -> Path:
    """Size on disk and export time of each format: what each artifact costs to make and ship."""
    plt = _pyplot()
    names = list(formats)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.barh(names, [formats[n]["bytes"] / 1024 for n in names], color="tab:blue")
    left.set_xlabel("size, KiB")
    right.barh(names, [formats[n]["export_seconds"] or 0.0 for n in names], color="tab:green")
    right.set_xlabel("export time, s (as `liveri export` measured it)")
    right.set_yticks(range(len(names)), [""] * len(names))
    for ax in (left, right):
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(title)
    return _save(fig, plt, path)


def rest_connections(steps: list[dict[str, Any]], path: Path, title: str) -> Path:
    """A new client's predict latency (p50, max) and the server's memory against idle
    connections held open: flat lines mean an idle client costs the others nothing."""
    plt = _pyplot()
    idle = [r["idle_connections"] for r in steps]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for key, style in (("p50_ms", "o-"), ("max_ms", "s--")):
        left.plot(idle, [r[key] if r[key] is not None else np.nan for r in steps], style,
                  label=key.replace("_ms", ""))
    failed = [(r["idle_connections"], r["probes_failed"]) for r in steps if r["probes_failed"]]
    for x, count in failed:
        left.annotate(f"{count} failed", (x, 0), color="crimson", fontsize=8)
    left.set_xlabel("idle connections open")
    left.set_ylabel("new client's predict, ms")
    left.set_ylim(bottom=0)
    left.legend(fontsize=8)
    right.plot(idle, [r["server_rss_mib"] for r in steps], "o-", color="tab:green")
    right.set_xlabel("idle connections open")
    right.set_ylabel("server resident memory, MiB")
    for ax in (left, right):
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    return _save(fig, plt, path)


def _save(fig: Any, plt: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
