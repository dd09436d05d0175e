"""One bench of one version: every artifact in its runtime, then the server; bench.json + plots.

The output is written to the chosen folder and copied into the version's `liveri/bench/`, where
`liveri release` finds it.
"""

from __future__ import annotations

import contextlib
import datetime
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from liveri.benchmarks import plots, store
from liveri.benchmarks.artifact_scenarios import bench_scenarios, decoder_plan
from liveri.benchmarks.export_cost import artifact_bytes
from liveri.benchmarks.inputs import tile_batch, warmup_examples
from liveri.benchmarks.loadgen import SCENARIOS, LoadPlan
from liveri.benchmarks.runners import TFLITE_THREADS, Runner, artifact_runners
from liveri.benchmarks.server_bench import ServerPlan, bench_server
from liveri.benchmarks.stats import histogram_ms, summarize
from liveri.benchmarks.timing import SamplePlan, sample_latencies

from liveri import layout
from liveri.artifact.manifest import Manifest
from liveri.errors import UsageError
from liveri.fileio import atomic_write_json
from liveri.request_records import request_inputs

SCHEMA = 2  # 2: the scenarios run on MLPerf's LoadGen
LOADGEN_DIR = "loadgen"  # LoadGen's mlperf_log_summary.txt of every run, beside bench.json
BATCH_SIZES = (1, 8, 32)
MAX_DECODER_BATCH = 8


@dataclass(frozen=True)
class BenchPlan:
    """Everything that decides how long a bench runs; `quick()` for tests and smoke runs."""

    batch_sizes: tuple[int, ...] = BATCH_SIZES
    artifacts: SamplePlan = field(default_factory=SamplePlan)
    scenarios: LoadPlan = field(default_factory=lambda: LoadPlan(max_duration_s=20.0))
    server: ServerPlan = field(default_factory=ServerPlan)

    @classmethod
    def quick(cls) -> BenchPlan:
        """Short runs; LoadGen still asks for enough queries to judge the 99th percentile."""
        return cls(artifacts=SamplePlan(warmup_s=0.05, seconds=0.15, min_samples=60),
                   scenarios=LoadPlan(min_duration_s=0.1, max_duration_s=2.0),
                   server=ServerPlan(seconds=0.3, warmup_s=0.1, rate_fractions=(0.25, 0.6, 0.95),
                                     load=LoadPlan(min_duration_s=0.1, max_duration_s=3.0,
                                                   offline_in_flight=8)))


@dataclass
class ServerChoice:
    """Which server to load: `target` HOST:PORT of a running one, else one the bench starts."""

    target: str | None = None
    start: bool = True
    enable_batching: bool = False


def run_bench(model_repo: Path, version_dir: Path, manifest: Manifest, plan: BenchPlan,
              server: ServerChoice, out_dir: Path, requests: list[str] | None = None
              ) -> dict[str, Any]:
    """Measure everything, write bench.json and the plots to `out_dir`; returns bench.json.
    The inputs are the version's warmup requests, or those of the `requests` files."""
    started = time.perf_counter()
    if server.target:
        _check_reachable(server.target)
    out_dir.mkdir(parents=True, exist_ok=True)
    examples = _examples(version_dir, requests)
    skipped: dict[str, str] = {}
    runners = list(artifact_runners(version_dir, manifest, skipped))
    steps = sum(len(_batch_sizes(r, plan)) + len(SCENARIOS) for r in runners) + (
        plan.server.steps if server.start or server.target else 0)
    title = f"{manifest.model} v{manifest.version}"
    budget_ms = float(manifest.budgets.get("latency_p99_ms", 100.0))
    with _progress(steps, title) as tick:
        rows, batch1_ms = _bench_artifacts(runners, examples, plan, skipped, tick)
        scenarios = _artifact_scenarios(runners, examples, plan, budget_ms, skipped,
                                        out_dir / LOADGEN_DIR, tick)
        server_section, server_ms = _bench_server(model_repo, manifest, examples, budget_ms,
                                                  plan, server, out_dir / LOADGEN_DIR, tick)
    if server_ms is not None:
        batch1_ms["server (gRPC)"] = server_ms
    bench = {
        "schema": SCHEMA,
        "model": manifest.model,
        "version": manifest.version,
        "version_dir": str(version_dir),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": store.host(),
        "artifact_sha256": store.artifact_checksums(manifest),
        "plan": {"batch_sizes": list(plan.batch_sizes), "artifacts": asdict(plan.artifacts),
                 "scenarios": asdict(plan.scenarios), "server": asdict(plan.server)},
        "units": {"latency": "ms per call", "throughput": "examples/s"},
        "formats": {a.format: {"bytes": artifact_bytes(version_dir, a),
                               "export_seconds": manifest.export_seconds.get(a.format)}
                    for a in manifest.artifacts},
        "inputs": {"from": requests or [layout.WARMUP_FILE],
                   "examples": len(next(iter(examples.values())))},
        "artifacts": rows,
        "artifact_scenarios": scenarios,
        "skipped": skipped,
        "server": server_section,
    }
    bench["plots"] = _draw(bench, batch1_ms, out_dir, title)
    bench["elapsed_s"] = round(time.perf_counter() - started, 2)
    atomic_write_json(out_dir / store.BENCH_FILE, bench)
    _keep_with_version(out_dir, version_dir, bench)
    return bench


def _examples(version_dir: Path, requests: list[str] | None) -> dict[str, np.ndarray]:
    warmup = warmup_examples(version_dir)
    if not requests:
        return warmup
    logged = request_inputs(requests)
    if set(logged) != set(warmup):
        raise UsageError(f"--requests: the requests' inputs are {sorted(logged)}; version "
                         f"{version_dir.name} takes {sorted(warmup)}")
    return logged


def _bench_artifacts(runners: list[Runner], examples: dict[str, np.ndarray], plan: BenchPlan,
                     skipped: dict[str, str], tick: Any
                     ) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
    rows, batch1_ms = [], {}
    for runner in runners:
        for batch_size in _batch_sizes(runner, plan):
            tick(f"{runner.key} b={batch_size}")
            if runner.format in skipped:
                continue
            try:
                call = runner.bind(tile_batch(examples, batch_size))
                rounds = sample_latencies(call, plan.artifacts)
            except (ValueError, KeyError, RuntimeError) as e:
                skipped[runner.format] = f"{type(e).__name__}: {e}"
                continue
            pooled = np.concatenate(rounds)
            summary = summarize(pooled, batch_size)
            if runner.tokens is not None:  # a decoder: what it writes per second
                tokens = runner.tokens(tile_batch(examples, batch_size))
                summary.update(tokens_per_call=tokens,
                               tokens_per_s=tokens / (summary["mean_ms"] / 1e3))
            rows.append({
                "key": runner.key, **runner.describe(), "batch_size": batch_size, **summary,
                "rounds_p50_ms": [float(np.median(r) * 1e3) for r in rounds],
                "rounds_p99_ms": [float(np.percentile(r, 99) * 1e3) for r in rounds],
                "histogram": histogram_ms(pooled),
            })
            if batch_size == 1:
                batch1_ms[runner.key] = pooled * 1e3
    return rows, batch1_ms


def _artifact_scenarios(runners: list[Runner], examples: dict[str, np.ndarray], plan: BenchPlan,
                        budget_ms: float, skipped: dict[str, str], summaries: Path, tick: Any
                        ) -> dict[str, dict[str, Any]]:
    """LoadGen's four scenarios for every runner that timed (see artifact_scenarios.py)."""
    out = {}
    for runner in runners:
        if runner.format in skipped:
            for name in SCENARIOS:
                tick(f"{runner.key} {name}")
            continue
        load = plan.scenarios if runner.beam is None else decoder_plan(plan.scenarios,
                                                                       MAX_DECODER_BATCH)
        try:
            out[runner.key] = bench_scenarios(runner, examples, load, budget_ms, summaries, tick)
        except (ValueError, KeyError, RuntimeError) as e:  # as the batch sweep: noted, not fatal
            out[runner.key] = {"error": f"{type(e).__name__}: {e}"}
    return out


def _batch_sizes(runner: Runner, plan: BenchPlan) -> tuple[int, ...]:
    """A decoder's batches stop at MAX_DECODER_BATCH: each call is a whole beam search."""
    if runner.beam is None:
        return plan.batch_sizes
    return tuple(b for b in plan.batch_sizes if b <= MAX_DECODER_BATCH)


def _bench_server(model_repo: Path, manifest: Manifest, examples: dict[str, np.ndarray],
                  budget_ms: float, plan: BenchPlan, server: ServerChoice, summaries: Path,
                  tick: Any
                  ) -> tuple[dict[str, Any], np.ndarray | None]:
    from liveri.benchmarks.grpc_client import PredictClient
    from liveri.benchmarks.server_process import ServerUnavailable, started_server

    if not (server.target or server.start):
        return {"skipped": "not asked for"}, None
    try:
        with contextlib.ExitStack() as stack:
            target = server.target or stack.enter_context(
                started_server(model_repo, manifest.model, manifest.version,
                               server.enable_batching))
            client = PredictClient(target, manifest.model, manifest.version)
            stack.callback(client.close)
            try:
                client.wait_ready()
                section, samples = bench_server(client, examples, budget_ms, plan.server, tick,
                                                summaries)
            except (grpc.RpcError, grpc.FutureTimeoutError) as e:
                raise ServerUnavailable(f"server {target} did not answer "
                                        f"{manifest.model} version {manifest.version}: "
                                        f"{_rpc_text(e)}") from None
    except ServerUnavailable as e:
        if server.target:
            raise UsageError(f"--server {server.target}: {e}") from None
        return {"skipped": str(e)}, None
    section["started_by_bench"] = server.target is None
    section["enable_batching"] = server.enable_batching if server.target is None else None
    return section, np.asarray(samples) * 1e3


def _check_reachable(target: str, timeout_s: float = 10.0) -> None:
    """Fail before minutes of artifact timing when `--server` points at nothing."""
    with grpc.insecure_channel(target) as channel:
        try:
            grpc.channel_ready_future(channel).result(timeout=timeout_s)
        except grpc.FutureTimeoutError:
            raise UsageError(f"--server {target}: nothing answered within {timeout_s:g} s; "
                             "expected a running `liveri serve` (or TF Serving) gRPC port"
                             ) from None


def _rpc_text(error: Exception) -> str:
    if isinstance(error, grpc.RpcError) and hasattr(error, "code"):
        return f"{error.code().name}: {error.details()}"
    return "no answer within the timeout"


def _draw(bench: dict[str, Any], batch1_ms: dict[str, np.ndarray], out_dir: Path,
          title: str) -> list[str]:
    drawn = []
    if batch1_ms:
        drawn.append(plots.latency_distribution(
            batch1_ms, out_dir / plots.LATENCY_PLOT, f"{title}: batch-1 latency per artifact"))
    if bench["artifacts"]:
        drawn.append(plots.latency_by_batch(
            bench["artifacts"], out_dir / plots.BATCH_PLOT,
            f"{title}: latency by batch size (TFLite threads {TFLITE_THREADS})"))
    drawn.append(plots.formats(bench["formats"], out_dir / plots.FORMATS_PLOT,
                               f"{title}: artifact size and export time per format"))
    server = bench["server"]
    if "concurrency" in server:
        drawn.append(plots.server_concurrency(
            server["concurrency"], out_dir / plots.CONCURRENCY_PLOT,
            f"{title}: server throughput and latency vs concurrency"))
        scenario = server["scenarios"]["server"]
        drawn.append(plots.latency_vs_rate(
            scenario["points"], scenario["p99_budget_ms"], out_dir / plots.RATE_PLOT,
            f"{title}: server latency vs offered rate (LoadGen Server scenario)"))
    return [p.name for p in drawn]


def _keep_with_version(out_dir: Path, version_dir: Path, bench: dict[str, Any]) -> None:
    """Copy bench.json and the plots beside the version, for `liveri release` to reuse."""
    keep = version_dir / store.BENCH_DIR
    if keep.resolve() == out_dir.resolve():
        return
    keep.mkdir(parents=True, exist_ok=True)
    for name in bench["plots"]:
        shutil.copyfile(out_dir / name, keep / name)
    atomic_write_json(keep / store.BENCH_FILE, bench)


@contextlib.contextmanager
def _progress(total: int, title: str) -> Iterator[Any]:
    from tqdm import tqdm

    bar = tqdm(total=total, desc=f"bench {title}", unit="step", file=sys.stderr, disable=None,
               dynamic_ncols=True)

    def tick(label: str) -> None:
        bar.set_postfix_str(label, refresh=False)
        bar.update(1)

    try:
        yield tick
    finally:
        bar.close()
