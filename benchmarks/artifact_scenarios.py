"""Each artifact in its runtime under MLPerf's four scenarios, driven by LoadGen.

The version's examples are prepared for the runtime once, before LoadGen starts (as MLPerf's
LoadSamplesToRam does), so a query's time is the model's; a query's samples are taken from them
by index. The artifact's Server scenario offers Poisson arrivals at `SERVER_LOAD` of the rate it
answers one at a time (SingleStream), with LoadGen's p99 target at the latency budget.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from liveri.benchmarks import loadgen
from liveri.benchmarks.runners import Runner

SERVER_LOAD = 0.5


def bench_scenarios(runner: Runner, examples: dict[str, np.ndarray], plan: loadgen.LoadPlan,
                    p99_budget_ms: float, summaries: Path, tick: Callable[[str], None]
                    ) -> dict[str, Any]:
    """LoadGen's summary of each scenario for `runner` (its mlperf_log_summary.txt files go to
    `summaries`)."""
    samples = len(next(iter(examples.values())))
    system = loadgen.InProcess(runner.call, runner.prepare(examples), plan.offline_batch)
    out: dict[str, Any] = {}
    try:
        for name in ("single_stream", "multi_stream", "offline", "server"):
            tick(f"{runner.key} {name}")
            rate = SERVER_LOAD * (out.get("single_stream", {}).get("samples_per_s") or 1.0)
            scenario = loadgen.Scenario(name, rate, p99_budget_ms)
            summary_file = summaries / f"{runner.key.replace('/', '_')}.{name}.txt"
            out[name] = loadgen.run(system, samples, scenario, plan, summary_file)
            if name == "server":
                out[name]["offered_qps"] = rate
    finally:
        system.close()
    return out


def decoder_plan(plan: loadgen.LoadPlan, max_batch: int) -> loadgen.LoadPlan:
    """A decoder's batches stop at `max_batch`: each call is a whole beam search."""
    return replace(plan, offline_batch=min(plan.offline_batch, max_batch),
                   multi_stream_samples=min(plan.multi_stream_samples, max_batch))
