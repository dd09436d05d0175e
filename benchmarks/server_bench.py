"""The server through the stock gRPC client: concurrency sweep, then LoadGen's scenarios.

SingleStream: one query at a time, its p90. Server: Poisson arrivals at rising rates, the
highest whose p99 stays within the latency budget. Offline: throughput with every query
available at once (large batches, many in flight).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from liveri.benchmarks import loadgen
from liveri.benchmarks.grpc_client import PredictClient
from liveri.benchmarks.inputs import tile_batch

CONCURRENCY = (1, 2, 4, 8, 16, 32)
RELEASE_CONCURRENCY = 8  # `release.min_server_qps` is judged here


@dataclass(frozen=True)
class ServerPlan:
    """How long each server measurement runs."""

    seconds: float = 1.5
    warmup_s: float = 0.3
    rate_steps: int = 6
    offline_batch: int = 32
    offline_concurrency: int = 8
    concurrency: tuple[int, ...] = CONCURRENCY


def bench_server(client: PredictClient, examples: dict[str, np.ndarray], p99_budget_ms: float,
                 plan: ServerPlan, tick: Callable[[str], None]
                 ) -> tuple[dict[str, Any], list[float]]:
    """Every server measurement, as bench.json's `server` section, and SingleStream's samples."""
    one = client.request(tile_batch(examples, 1))
    client.predict(one)

    def call() -> Any:
        return client.predict(one)

    sweep = []
    for c in plan.concurrency:
        tick(f"server c={c}")
        run = loadgen.closed_loop(call, c, plan.seconds, plan.warmup_s)
        sweep.append({"concurrency": c, "batch_size": 1, **run.summary()})

    tick("server SingleStream")
    single = loadgen.closed_loop(call, 1, plan.seconds, plan.warmup_s, min_queries=200)
    single_stream = {"batch_size": 1, "metric": "p90_ms", **single.summary()}

    peak = max((row.get("throughput", 0.0) for row in sweep), default=0.0)
    points = []
    for i, rate in enumerate(loadgen.rates_to_try(peak, plan.rate_steps)):
        tick(f"server Poisson {rate:.0f}/s")
        run = loadgen.poisson_open_loop(lambda: client.predict_future(one), rate, plan.seconds,
                                        seed=i)
        points.append({"offered_qps": rate, "achieved_qps": len(run.latencies_s) / run.wall_s,
                       **run.summary()})
    server = {"batch_size": 1, "p99_budget_ms": p99_budget_ms, "points": points,
              "max_qps_within_budget": loadgen.highest_rate_within(points, p99_budget_ms)}

    tick("server Offline")
    big = client.request(tile_batch(examples, plan.offline_batch))
    client.predict(big)
    offline_run = loadgen.closed_loop(lambda: client.predict(big), plan.offline_concurrency,
                                      plan.seconds, plan.warmup_s)
    offline = {"batch_size": plan.offline_batch, "concurrency": plan.offline_concurrency,
               "metric": "throughput", **offline_run.summary(plan.offline_batch)}

    section = {
        "target": client.target,
        "model": client.model,
        "version": client.version,
        "concurrency": sweep,
        "scenarios": {"single_stream": single_stream, "server": server, "offline": offline},
    }
    return section, single.latencies_s
