"""A closed loop: N clients, each sending its next query when the last is answered.

This is the server's concurrency sweep (throughput and latency at 1..32 in flight), a question
MLPerf's scenarios do not ask; the scenarios themselves run on LoadGen (`loadgen.py`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from liveri.benchmarks.stats import summarize

Call = Callable[[], Any]


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
