"""MLPerf's LoadGen (`mlcommons-loadgen`) drives the four scenarios against one system under test.

LoadGen decides when each query is issued and which samples it holds, times it, and judges the
run (its validity verdict, early stopping); this module only connects it to our systems: a
query's sample indices become one batch of the prepared examples, answered through `System`,
and LoadGen's detail log is read back into bench.json's figures.

Scenarios, as MLPerf defines them: SingleStream (one sample, the next issued when it is
answered), MultiStream (`multi_stream_samples` per query, likewise), Server (one sample per
query, Poisson arrivals at `target_qps`, p99 within the latency target) and Offline (every
sample in one query, answered in batches).

Offline answers on LoadGen's issuing thread: completing a query of about 1,000 samples or more
from another thread crashes mlperf_loadgen 6.0 (mlcommons/inference #1337, reproduced here).
"""

from __future__ import annotations

import json
import queue
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

SCENARIOS = ("single_stream", "multi_stream", "server", "offline")
# Queries LoadGen's early stopping needs to estimate the 99th percentile when none is over
# latency (its own figure, "Processed at least 662 queries").
EARLY_STOPPING_QUERIES = 662
TARGET_PERCENTILE = 0.99
MAX_TRIES = 3  # runs of one scenario, re-tuning LoadGen's expectation (see `run`)


class System(Protocol):
    """What LoadGen loads: a batch of sample indices in, answered."""

    def run(self, indices: np.ndarray) -> None:
        """Answer one batch, blocking."""

    def submit(self, indices: np.ndarray, done: Callable[[BaseException | None], None]) -> None:
        """Start answering one batch; call `done` (with the error, if any) when answered."""


@dataclass(frozen=True)
class LoadPlan:
    """How each LoadGen run is sized (MLPerf's own minimums are ten minutes a run)."""

    min_duration_s: float = 1.0
    max_duration_s: float = 60.0
    min_queries: int = EARLY_STOPPING_QUERIES
    multi_stream_samples: int = 8
    offline_batch: int = 32
    offline_in_flight: int = 1


@dataclass(frozen=True)
class Scenario:
    """One LoadGen run: the scenario, and what it needs that LoadGen cannot guess."""

    name: str  # one of SCENARIOS
    target_qps: float = 0.0  # server: the Poisson rate; offline: the expected rate
    target_latency_ms: float = 0.0  # server: the p99 target
    expected_latency_ms: float = 0.0  # single and multi stream: LoadGen's guess (0: its own)


def run(system: System, samples: int, scenario: Scenario, plan: LoadPlan,
        summary_file: Path | None = None) -> dict[str, Any]:
    """One scenario under LoadGen; returns its summary (see `read_detail_log`) and keeps
    LoadGen's own mlperf_log_summary.txt as `summary_file`.

    LoadGen schedules its queries from an expected latency (or rate); where that guess made the
    run end before its minimum duration, it is run again with what LoadGen measured, as an
    MLPerf submitter re-tunes it."""
    for _ in range(MAX_TRIES):
        summary = _start_test(system, samples, scenario, plan, summary_file)
        if "min duration" not in summary["invalid_because"] or scenario.name == "server":
            break
        # a short Offline query under-states the rate (its start is not amortized): aim high
        scenario = replace(scenario, target_qps=3.0 * summary["samples_per_s"],
                           expected_latency_ms=0.5 * summary["mean_ms"])
    return summary


def _start_test(system: System, samples: int, scenario: Scenario, plan: LoadPlan,
                summary_file: Path | None) -> dict[str, Any]:
    import mlperf_loadgen as lg

    errors: list[str] = []
    issue = _issuer(system, scenario.name, plan, errors)
    sut = lg.ConstructSUT(issue, lambda: None)
    qsl = lg.ConstructQSL(samples, samples, lambda _: None, lambda _: None)
    with tempfile.TemporaryDirectory(prefix="loadgen-") as tmp:
        out = Path(tmp)
        log = lg.LogSettings()
        log.log_output.outdir = str(out)
        log.log_output.copy_summary_to_stdout = False
        log.enable_trace = False
        try:
            lg.StartTestWithLogSettings(sut, qsl, _settings(scenario, plan), log)
        finally:
            lg.DestroyQSL(qsl)
            lg.DestroySUT(sut)
        summary = read_detail_log(out / "mlperf_log_detail.txt")
        if summary_file is not None:
            summary_file.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(out / "mlperf_log_summary.txt", summary_file)
    summary["errors"] = len(errors)
    if errors:
        summary.update(validity="INVALID", first_error=errors[0])
        summary["invalid_because"].append(f"{len(errors)} queries failed")
    return summary


def _settings(scenario: Scenario, plan: LoadPlan) -> Any:
    import mlperf_loadgen as lg

    s = lg.TestSettings()
    s.scenario = {"single_stream": lg.TestScenario.SingleStream,
                  "multi_stream": lg.TestScenario.MultiStream,
                  "server": lg.TestScenario.Server,
                  "offline": lg.TestScenario.Offline}[scenario.name]
    s.mode = lg.TestMode.PerformanceOnly
    s.min_duration_ms = int(plan.min_duration_s * 1e3)
    s.max_duration_ms = int(plan.max_duration_s * 1e3)
    s.min_query_count = 1 if scenario.name == "offline" else plan.min_queries
    s.single_stream_target_latency_percentile = TARGET_PERCENTILE
    s.multi_stream_target_latency_percentile = TARGET_PERCENTILE
    s.multi_stream_samples_per_query = plan.multi_stream_samples
    if scenario.name == "server":
        s.server_target_qps = scenario.target_qps
        s.server_target_latency_ns = int(scenario.target_latency_ms * 1e6)
        s.server_target_latency_percentile = TARGET_PERCENTILE
    if scenario.name == "offline" and scenario.target_qps:
        s.offline_expected_qps = scenario.target_qps
    if scenario.expected_latency_ms:
        s.single_stream_expected_latency_ns = max(int(scenario.expected_latency_ms * 1e6), 1)
        s.multi_stream_expected_latency_ns = max(int(scenario.expected_latency_ms * 1e6), 1)
    return s


def _issuer(system: System, scenario: str, plan: LoadPlan,
            errors: list[str]) -> Callable[[list[Any]], None]:
    """LoadGen's IssueQuery for `scenario`: how a query's samples reach `system`."""
    import mlperf_loadgen as lg

    def complete(ids: list[int], error: BaseException | None = None) -> None:
        if error is not None:
            errors.append(f"{type(error).__name__}: {error}")
        lg.QuerySamplesComplete([lg.QuerySampleResponse(i, 0, 0) for i in ids])

    def answered_here(query: list[Any]) -> None:
        ids, indices = _split(query)
        try:
            system.run(indices)
        except Exception as e:  # a failed query is counted, and LoadGen goes on
            complete(ids, e)
            return
        complete(ids)

    def sent_away(query: list[Any]) -> None:
        for sample in query:
            system.submit(np.array([sample.index]),
                          lambda error, i=sample.id: complete([i], error))

    def offline(query: list[Any]) -> None:
        ids, indices = _split(query)
        answered: queue.Queue = queue.Queue()
        batches = [slice(at, at + plan.offline_batch)
                   for at in range(0, len(ids), plan.offline_batch)]
        for n, part in enumerate(batches):
            if n >= plan.offline_in_flight:
                complete(*answered.get())
            system.submit(indices[part], lambda error, p=part: answered.put((ids[p], error)))
        for _ in range(min(len(batches), plan.offline_in_flight)):
            complete(*answered.get())

    return {"server": sent_away, "offline": offline}.get(scenario, answered_here)


def _split(query: list[Any]) -> tuple[list[int], np.ndarray]:
    return [s.id for s in query], np.array([s.index for s in query], dtype=np.int64)


def read_detail_log(path: Path) -> dict[str, Any]:
    """LoadGen's verdict and figures from its detail log (`:::MLLOG {json}` lines): validity
    and why not, early stopping's percentile estimate, latency percentiles (ms), the rate."""
    found: dict[str, Any] = {}
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith(":::MLLOG "):
            entry = json.loads(line[len(":::MLLOG "):])
            found[entry["key"]] = entry["value"]
    if "result_validity" not in found:
        raise RuntimeError(f"LoadGen wrote no result to {path}: "
                           f"{found.get('error_runtime', 'the run did not finish')}")
    return _summary(found)


def _summary(found: dict[str, Any]) -> dict[str, Any]:
    def ms(key: str) -> float | None:
        value = found.get(key)
        return None if value is None else float(value) / 1e6

    checks = {"min duration": "result_min_duration_met", "min queries": "result_min_queries_met",
              "early stopping": "early_stopping_met",
              "latency target": "result_perf_constraints_met"}
    early = ms("early_stopping_latency_ss") or ms("early_stopping_latency_ms")
    return {
        "loadgen": found.get("loadgen_version", ""),
        "scenario": found.get("effective_scenario", ""),
        "validity": found["result_validity"],
        "invalid_because": [name for name, key in checks.items() if found.get(key) is False],
        "early_stopping_met": bool(found.get("early_stopping_met")),
        "early_stopping_p99_ms": early if found.get("early_stopping_met") else None,
        "queries": found.get("result_query_count"),
        "samples_per_query": found.get("effective_samples_per_query"),
        "target_latency_ms": ms("effective_target_latency_ns") or None,
        "samples_per_s": _rate(found),
        **{f"p{p}_ms": ms(f"result_{p}.00_percentile_latency_ns") for p in (50, 90, 99)},
        "mean_ms": ms("result_mean_latency_ns"),
        "max_ms": ms("result_max_latency_ns"),
    }


def _rate(found: dict[str, Any]) -> float | None:
    """Samples answered per second, where LoadGen states it (Offline, Server, SingleStream),
    else from MultiStream's mean query latency (its queries run back to back)."""
    per_query = found.get("effective_samples_per_query", 1)
    if "result_samples_per_second" in found:
        return float(found["result_samples_per_second"])
    if "result_completed_samples_per_sec" in found:
        return float(found["result_completed_samples_per_sec"])
    if "result_qps_with_loadgen_overhead" in found:
        return per_query * float(found["result_qps_with_loadgen_overhead"])
    mean_ns = found.get("result_mean_query_latency_ns")
    return per_query * 1e9 / mean_ns if mean_ns else None


class InProcess:
    """A model in this process as a `System`: `call` answers a batch of prepared examples
    (taken from `prepared` by index); submitted batches queue for one worker thread, which
    joins what waits (up to `max_batch` samples) into one call, as a batching server would."""

    def __init__(self, call: Callable[[dict[str, np.ndarray]], Any],
                 prepared: dict[str, np.ndarray], max_batch: int = 32) -> None:
        self.call, self.prepared, self.max_batch = call, prepared, max_batch
        self.waiting: queue.Queue = queue.Queue()
        self.worker: threading.Thread | None = None

    def run(self, indices: np.ndarray) -> None:
        self.call({name: values[indices] for name, values in self.prepared.items()})

    def submit(self, indices: np.ndarray, done: Callable[[BaseException | None], None]) -> None:
        if self.worker is None:
            self.worker = threading.Thread(target=self._serve, daemon=True)
            self.worker.start()
        self.waiting.put((indices, done))

    def close(self) -> None:
        if self.worker is not None:
            self.waiting.put(None)
            self.worker.join()
            self.worker = None

    def _serve(self) -> None:
        while (first := self.waiting.get()) is not None:
            batch = [first]
            while sum(len(i) for i, _ in batch) < self.max_batch and not self.waiting.empty():
                item = self.waiting.get()
                if item is None:
                    self.waiting.put(None)
                    break
                batch.append(item)
            error = None
            try:
                self.run(np.concatenate([i for i, _ in batch]))
            except Exception as e:  # answered as failed; the worker keeps serving
                error = e
            for _, done in batch:
                done(error)
