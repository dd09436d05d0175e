"""The server through the stock gRPC client: a concurrency sweep, then MLPerf's scenarios on
LoadGen.

The sweep (closed loops at 1..32 in flight) finds the server's peak throughput; the Server
scenario then offers Poisson arrivals at fractions of that peak, and the highest rate LoadGen
judges VALID (p99 within the latency budget, early stopping met) is the server's answer.
SingleStream, MultiStream and Offline each run once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from liveri.benchmarks import loadgen
from liveri.benchmarks.closed_loop import closed_loop
from liveri.benchmarks.grpc_client import PredictClient
from liveri.benchmarks.inputs import tile_batch

CONCURRENCY = (1, 2, 4, 8, 16, 32)


@dataclass(frozen=True)
class ServerPlan:
    """How long each server measurement runs."""

    seconds: float = 1.5  # each point of the concurrency sweep
    warmup_s: float = 0.3
    rate_fractions: tuple[float, ...] = (0.1, 0.25, 0.4, 0.55, 0.7, 0.85, 1.0)
    load: loadgen.LoadPlan = field(default_factory=lambda: loadgen.LoadPlan(
        offline_in_flight=8, max_duration_s=30.0))
    concurrency: tuple[int, ...] = CONCURRENCY

    @property
    def steps(self) -> int:
        return len(self.concurrency) + len(self.rate_fractions) + 3


class GrpcSystem:
    """The server as LoadGen's system under test: a batch of samples is one Predict request
    (a lone sample's request is built once; each call still pays serialization)."""

    def __init__(self, client: PredictClient, examples: dict[str, np.ndarray]) -> None:
        self.client, self.examples = client, examples
        self.lone = [client.request({k: v[i:i + 1] for k, v in examples.items()})
                     for i in range(len(next(iter(examples.values()))))]

    def request(self, indices: np.ndarray) -> Any:
        if len(indices) == 1:
            return self.lone[int(indices[0])]
        return self.client.request({k: v[indices] for k, v in self.examples.items()})

    def run(self, indices: np.ndarray) -> None:
        self.client.predict(self.request(indices))

    def submit(self, indices: np.ndarray, done: Callable[[BaseException | None], None]) -> None:
        future: grpc.Future = self.client.predict_future(self.request(indices))
        future.add_done_callback(lambda f: done(f.exception()))


def bench_server(client: PredictClient, examples: dict[str, np.ndarray], p99_budget_ms: float,
                 plan: ServerPlan, tick: Callable[[str], None], summaries: Path
                 ) -> tuple[dict[str, Any], list[float]]:
    """Every server measurement, as bench.json's `server` section, and the latencies (s) of
    one query at a time (the sweep's first point), for the distribution plot."""
    one = client.request(tile_batch(examples, 1))
    client.predict(one)
    sweep, lone = [], []
    for c in plan.concurrency:
        tick(f"server c={c}")
        run = closed_loop(lambda: client.predict(one), c, plan.seconds, plan.warmup_s)
        sweep.append({"concurrency": c, "batch_size": 1, **run.summary()})
        lone = lone or run.latencies_s
    peak = max((row.get("throughput", 0.0) for row in sweep), default=0.0)

    system, samples = GrpcSystem(client, examples), len(next(iter(examples.values())))
    scenarios = {}
    for name in ("single_stream", "multi_stream", "offline"):
        tick(f"server {name}")
        scenarios[name] = loadgen.run(system, samples, loadgen.Scenario(name), plan.load,
                                      summaries / f"server.{name}.txt")
    points = []
    for fraction in plan.rate_fractions:
        rate = max(peak * fraction, 1.0)
        tick(f"server Poisson {rate:.0f}/s")
        point = loadgen.run(system, samples, loadgen.Scenario("server", rate, p99_budget_ms),
                            plan.load, summaries / f"server.server-{rate:.0f}qps.txt")
        points.append({"offered_qps": rate, **point})
    scenarios["server"] = {"p99_budget_ms": p99_budget_ms, "points": points,
                           "max_valid_qps": max_valid_rate(points)}
    section = {"target": client.target, "model": client.model, "version": client.version,
               "concurrency": sweep, "scenarios": scenarios}
    return section, lone


def max_valid_rate(points: list[dict[str, Any]]) -> float | None:
    """The Server scenario's answer: the highest offered rate LoadGen judged VALID."""
    valid = [p["offered_qps"] for p in points if p["validity"] == "VALID"]
    return max(valid) if valid else None
