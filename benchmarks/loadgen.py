"""Load against a server, after MLPerf LoadGen: a closed-loop concurrency sweep and the
SingleStream, Server (Poisson arrivals) and Offline scenarios.

Latency is taken from when a query was due (its scheduled arrival in open loops), so a client
or server that falls behind shows up in the figures instead of hiding in a slower send rate.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from liveri.benchmarks.stats import summarize

Call = Callable[[], Any]
FutureCall = Callable[[], Any]  # returns a grpc.Future


@dataclass
class LoadResult:
    """What one load run measured: latencies (s) of answered queries, wall time, errors."""

    latencies_s: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    errors: int = 0
    first_error: str = ""

    def summary(self, examples_per_query: int = 1) -> dict[str, Any]:
        if not self.latencies_s:
            return {"samples": 0, "errors": self.errors, "first_error": self.first_error}
        out = summarize(self.latencies_s, examples_per_query, wall_s=self.wall_s)
        out["errors"] = self.errors
        if self.first_error:
            out["first_error"] = self.first_error
        return out


def closed_loop(call: Call, concurrency: int, seconds: float, warmup_s: float = 0.2,
                min_queries: int = 0) -> LoadResult:
    """`concurrency` workers each send the next query when the last is answered."""
    result = LoadResult()
    lock = threading.Lock()
    start_at = time.perf_counter() + warmup_s
    stop_at = start_at + seconds
    done_counts = [0]

    def worker() -> None:
        local: list[float] = []
        while True:
            t0 = time.perf_counter()
            if t0 >= stop_at and done_counts[0] + len(local) >= min_queries:
                break
            try:
                call()
            except Exception as e:  # a failed query is counted, not fatal
                with lock:
                    result.errors += 1
                    result.first_error = result.first_error or f"{type(e).__name__}: {e}"
                continue
            t1 = time.perf_counter()
            if t0 >= start_at:
                local.append(t1 - t0)
        with lock:
            result.latencies_s.extend(local)
            done_counts[0] += len(local)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result.wall_s = max(time.perf_counter() - start_at, 1e-9)
    return result


def poisson_open_loop(send: FutureCall, rate_qps: float, seconds: float, seed: int = 0,
                      max_in_flight: int = 512) -> LoadResult:
    """Queries arrive as a Poisson process at `rate_qps`; latency counts from the arrival."""
    rng = np.random.default_rng(seed)
    n = max(int(rate_qps * seconds), 1)
    arrivals = np.cumsum(rng.exponential(1.0 / rate_qps, size=n))
    result = LoadResult()
    finished = threading.Condition()
    slots = threading.Semaphore(max_in_flight)
    completed = [0]

    def on_done(due: float) -> Callable[[Any], None]:
        def callback(future: Any) -> None:
            now = time.perf_counter()
            error = future.exception()
            with finished:
                if error is None:
                    result.latencies_s.append(now - due)
                else:
                    result.errors += 1
                    result.first_error = result.first_error or str(error)
                completed[0] += 1
                finished.notify_all()
            slots.release()
        return callback

    t_start = time.perf_counter()
    for offset in arrivals:
        due = t_start + offset
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        slots.acquire()
        send().add_done_callback(on_done(due))
    with finished:
        finished.wait_for(lambda: completed[0] == n, timeout=60)
    result.wall_s = time.perf_counter() - t_start
    return result


def rates_to_try(peak_qps: float, steps: int) -> list[float]:
    """Offered rates for the Server scenario: fractions of the measured closed-loop peak."""
    fractions = np.linspace(0.1, 1.0, steps)
    return [float(max(peak_qps * f, 1.0)) for f in fractions]


def highest_rate_within(points: list[dict[str, Any]], p99_budget_ms: float) -> float | None:
    """The Server scenario's answer: the highest offered rate whose p99 met the budget."""
    ok = [p["offered_qps"] for p in points
          if p.get("samples", 0) and p["p99_ms"] <= p99_budget_ms and not p.get("errors")]
    return max(ok) if ok else None
