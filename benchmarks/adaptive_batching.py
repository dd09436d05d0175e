"""Batching with no parameters file (adaptive) against no batching, TF Serving's defaults and a
tuned 10 ms timeout, side by side (issue 24, item 9).

    python -m liveri.benchmarks.adaptive_batching --model_repo REPO --name image_digits \\
        --out DIR [--repeats 5] [--baseline_serve OTHER_CHECKOUT/serve]

Goals: with 32 requests in flight, the adaptive default reaches at least 0.8 of a bare grpc.aio
echo's throughput; a lone client's p50 is at most 0.1 ms above the unbatched server's. The
servers, the echo and the load run as `serve_overhead` runs them (a process each, the same
rounds and interleaved throughput slices, TensorFlow with one intra-op thread); each figure is
the median of its per-round values. `--baseline_serve` also measures the adaptive server of
another `serve/` folder (an older commit's) in the same rounds, as `adaptive_baseline`. Writes
DIR/adaptive_batching.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from liveri.benchmarks.serve_overhead import (
    IN_FLIGHT,
    Children,
    _batching_file,
    _single_model_repo,
    example_inputs,
    newest_version,
    predict_request_bytes,
)

GOAL_FRACTION = 0.8
GOAL_EXTRA_P50_MS = 0.1
ECHO = "echo_aio"


BASELINE = "adaptive_baseline"


def servers(repo: str, work: str, baseline_serve: str | None) -> dict[str, dict[str, Any]]:
    """Each server under test, by label; `serve_dir` names another build's serve/ folder."""
    tuned = _batching_file(work, "tuned", IN_FLIGHT, 10_000, 1)
    defaults = os.path.join(work, "tf_serving_defaults.txt")
    Path(defaults).write_text("")  # every field at TF Serving's default: timeout 0
    return {
        ECHO: {"kind": ECHO},
        "unbatched": {"kind": "model", "model_repo": repo},
        "adaptive": {"kind": "model", "model_repo": repo, "enable_batching": True},
        "tf_serving_defaults": {"kind": "model", "model_repo": repo, "batching_file": defaults},
        "timeout_10ms": {"kind": "model", "model_repo": repo, "batching_file": tuned},
    } | ({BASELINE: {"kind": "model", "model_repo": repo, "enable_batching": True,
                     "serve_dir": os.path.abspath(baseline_serve)}} if baseline_serve else {})


def run(args: argparse.Namespace) -> dict[str, Any]:
    work = tempfile.mkdtemp(prefix="adaptive_batching_")
    version_dir = newest_version(args.model_repo, args.name)
    request = predict_request_bytes(args.name, example_inputs(version_dir))
    targets = servers(_single_model_repo(work, version_dir, args.name), work, args.baseline_serve)
    children = Children()
    rounds = []
    try:
        ports = children.start_servers([
            {"host": "127.0.0.1", "tf_threads": (1, 0), "serve_dir": server.pop("serve_dir", None),
             "servers": {label: server}} for label, server in targets.items()])
        for number in range(args.repeats):
            labels = list(targets) if number % 2 == 0 else list(reversed(targets))
            row: dict[str, float] = {}
            for label in labels:
                times = children.load("latency", f"127.0.0.1:{ports[label]}", request,
                                      args.seconds, 0.3)
                row[f"{label} p50_ms"] = statistics.median(times) * 1e3
            rates = children.load("throughput", [f"127.0.0.1:{ports[t]}" for t in labels],
                                  request, IN_FLIGHT, args.seconds, 0.3, 0.25)
            row.update({f"{label} qps": rate for label, rate in zip(labels, rates)})
            for label in targets:
                row[f"{label} fraction_of_echo"] = row[f"{label} qps"] / row[f"{ECHO} qps"]
            for label in ("adaptive", BASELINE):
                if label in targets:
                    row[f"{label} extra_p50_ms"] = row[f"{label} p50_ms"] - row["unbatched p50_ms"]
            rounds.append(row)
            print(f"round {number + 1}: " + ", ".join(
                f"{t} {row[f'{t} p50_ms']:.3f} ms {row[f'{t} fraction_of_echo']:.2f}"
                for t in targets), flush=True)
    finally:
        children.close()
    medians = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
    spread = {key: [min(r[key] for r in rounds), max(r[key] for r in rounds)]
              for key in rounds[0]}
    return {"model": args.name, "version": int(version_dir.name), "in_flight": IN_FLIGHT,
            "repeats": args.repeats, "medians": medians, "spread": spread, "rounds": rounds,
            "goals": {"adaptive fraction_of_echo": GOAL_FRACTION,
                      "adaptive extra_p50_ms": GOAL_EXTRA_P50_MS},
            "goals_met": {
                "adaptive fraction_of_echo": medians["adaptive fraction_of_echo"] >= GOAL_FRACTION,
                "adaptive extra_p50_ms": medians["adaptive extra_p50_ms"] <= GOAL_EXTRA_P50_MS}}


def table(result: dict[str, Any]) -> str:
    m, s = result["medians"], result["spread"]
    lines = [f"| server | lone client p50 ms | {IN_FLIGHT} in flight, fraction of the echo's qps |",
             "|---|---|---|"]
    for label in ("unbatched", "adaptive", BASELINE, "tf_serving_defaults", "timeout_10ms", ECHO):
        key = f"{label} fraction_of_echo"
        if key not in m:
            continue
        lines.append(f"| {label} | {m[f'{label} p50_ms']:.3f} | {m[key]:.2f} "
                     f"[{s[key][0]:.2f}, {s[key][1]:.2f}] |")
    extra = "adaptive extra_p50_ms"
    lines.append(f"\nadaptive's extra p50 over unbatched: {m[extra]:.3f} ms "
                 f"[{s[extra][0]:.3f}, {s[extra][1]:.3f}]; goals met: {result['goals_met']}")
    extra = f"{BASELINE} extra_p50_ms"
    if extra in m:
        lines.append(f"{BASELINE}'s: {m[extra]:.3f} ms [{s[extra][0]:.3f}, {s[extra][1]:.3f}]")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_repo", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=1.5)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--baseline_serve", help="also measure the serve/ code in this folder")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    result = run(args)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "adaptive_batching.json").write_text(json.dumps(result, indent=1) + "\n")
    print(table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
