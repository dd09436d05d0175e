"""Idle connections against the REST port: does a new client still get its answer, and at what
memory? (issue 24, item 8: with 5,000 idle connections open, a new predict within 1 s.)

    python -m liveri.benchmarks.rest_connections --model_repo REPO --name MODEL --out DIR
        [--version V] [--connections 5000] [--steps 5] [--probes 20]

The server runs in a child process (`server_process --rest`). The bench opens idle TCP
connections to its REST port in `--steps` equal steps up to `--connections` (connected, nothing
sent, as idle keep-alive clients and port scanners leave them), and after each step a new client
sends `--probes` predicts, each on a connection of its own, with the version's first warmup
example. Recorded per step: the server's resident memory (VmRSS of its process), the new
clients' latency (p50, max) and how many of them failed (refused, reset or not answered 200
within 10 s). Writes DIR/rest_connections.json and DIR/rest_connections.png.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import socket
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from liveri.benchmarks.inputs import warmup_examples
from liveri.benchmarks.plots import rest_connections as plot
from liveri.benchmarks.server_process import started_child

PROBE_TIMEOUT_S = 10.0
GOAL_CONNECTIONS = 5000
GOAL_LATENCY_S = 1.0


def predict_body(version_dir: Path) -> bytes:
    """A columnar REST predict of the version's first warmup example (bytes as {"b64": ...})."""
    def value(array: np.ndarray) -> Any:
        if array.dtype == object or array.dtype.kind == "S":
            return [{"b64": base64.b64encode(v).decode()} for v in array.reshape(-1)]
        return array.tolist()

    examples = warmup_examples(version_dir)
    return json.dumps({"inputs": {k: value(v[:1]) for k, v in examples.items()}}).encode()


def probe(port: int, path: str, body: bytes) -> float | None:
    """One new client's predict: seconds until its 200 answer, None if it failed."""
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=PROBE_TIMEOUT_S)
    try:
        connection.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        answer = connection.getresponse()
        answer.read()
        return time.perf_counter() - started if answer.status == 200 else None
    except OSError:
        return None
    finally:
        connection.close()


def resident_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def open_idle(port: int, count: int, idle: list[socket.socket]) -> int:
    """Open `count` more idle connections; returns how many the server refused or dropped."""
    failed = 0
    for _ in range(count):
        try:
            idle.append(socket.create_connection(("127.0.0.1", port), timeout=PROBE_TIMEOUT_S))
        except OSError:
            failed += 1
    return failed


def measure(model_repo: Path, name: str, version: int, connections: int, steps: int,
            probes: int) -> dict[str, Any]:
    body = predict_body(model_repo / name / str(version))
    path = f"/v1/models/{name}:predict"
    rows, idle = [], []
    with started_child(model_repo, name, version, rest=True) as (child, ports):
        port = ports["rest_port"]
        probe(port, path, body)  # the first request pays for lazy imports
        try:
            for step in range(steps + 1):
                refused = open_idle(port, connections * step // steps - len(idle), idle)
                time.sleep(0.5)  # let the server accept and settle
                latencies = [probe(port, path, body) for _ in range(probes)]
                answered = [s for s in latencies if s is not None]
                rows.append({
                    "idle_connections": len(idle), "idle_refused": refused,
                    "server_rss_mib": round(resident_mib(child.pid), 1),
                    "probes": probes, "probes_failed": probes - len(answered),
                    "p50_ms": round(statistics.median(answered) * 1e3, 3) if answered else None,
                    "max_ms": round(max(answered) * 1e3, 3) if answered else None})
                print(json.dumps(rows[-1]), flush=True)
        finally:
            for connection in idle:
                connection.close()
    return {"model": name, "version": version, "steps": rows, "goal": {
        "idle_connections": GOAL_CONNECTIONS, "max_latency_s": GOAL_LATENCY_S}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_repo", required=True, type=Path)
    parser.add_argument("--name", required=True)
    parser.add_argument("--version", type=int)
    parser.add_argument("--connections", type=int, default=GOAL_CONNECTIONS)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--probes", type=int, default=20)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    version = args.version or max(int(p.name) for p in (args.model_repo / args.name).iterdir()
                                  if p.name.isdigit())
    result = measure(args.model_repo, args.name, version, args.connections, args.steps,
                     args.probes)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "rest_connections.json").write_text(json.dumps(result, indent=1) + "\n")
    plot(result["steps"], args.out / "rest_connections.png",
         f"{args.name}: a new client's REST predict while connections sit idle")
    print(f"wrote {args.out / 'rest_connections.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
