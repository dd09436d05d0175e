"""The release gate: judge a model's newest version against its experiment's `release.*` budgets.

Measures what each budget needs (reusing the version's stored bench when it is fresh), compares
latency with the last released version, writes the reports, and records the verdict in the
manifest. Raising is left to the caller, so the verdict is always on disk first.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from liveri.benchmarks import budgets as judge
from liveri.benchmarks import regression, store
from liveri.benchmarks.bench import BenchPlan, ServerChoice, run_bench
from liveri.benchmarks.bundle_size import bundle_bytes
from liveri.benchmarks.report import worst_int8_layers, write_reports
from liveri.benchmarks.server_bench import RELEASE_CONCURRENCY
from liveri.benchmarks.versions import read_manifest, version_dir

from liveri import layout
from liveri.artifact import manifest
from liveri.artifact.manifest import Manifest
from liveri.errors import UsageError

RELEASED, REJECTED = "released", "rejected"


@dataclass
class Outcome:
    """What `liveri release` prints: the verdict, the missed budgets and where the reports are."""

    verdict: str
    missed: list[dict[str, Any]]
    report_md: Path
    report_json: Path


# The release's model card from the version's manifest and its bench.
CardFn = Callable[[Manifest, dict[str, Any]], dict[str, Any]]


def run_release(experiment: str | None, release: dict[str, Any], card: CardFn,
                model_repo: Path, name: str, plan: BenchPlan,
                compare_plan: regression.ComparePlan) -> Outcome:
    """Judge the newest version of `name`, exported from `experiment` (None: a model trained
    elsewhere), against the `release` budgets (keys without `release.`)."""
    path = version_dir(model_repo, name)
    source = read_manifest(path)
    if source.experiment != experiment:
        raise UsageError(f"{path} was exported from {_origin(source.experiment)}, not "
                         f"{_origin(experiment)}; pass -e and --logdir exactly when the version "
                         "was trained by a Liveri experiment")

    bench = store.fresh_bench(path, source)
    if bench is not None and not _has_release_figures(bench):
        bench = None  # measure again what the stored bench left out
    bench_how = "reused the version's fresh bench" if bench else "measured now"
    if bench is None:
        bench = run_bench(model_repo, path, source, plan, ServerChoice(),
                          path / store.BENCH_DIR)

    results = [
        _latency(release, bench),
        _metric(release, source),
        _int8_drop(release, source),
        _bundle(release, model_repo, name, source),
        _server_qps(release, bench),
    ]
    baseline = _baseline(path, source, compare_plan)
    results.append(_regression(release, baseline))
    known = {r.key for r in results} | SETTINGS
    results += [judge.not_applicable(f"release.{k}", v, "", "no measurement for this budget")
                for k, v in release.items() if f"release.{k}" not in known]

    missed = [r.to_json() for r in results if r.verdict == judge.MISSED]
    verdict = REJECTED if missed else RELEASED
    report = {
        "model": name,
        "version": source.version,
        "experiment": experiment,
        "judged": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": store.host(),
        "verdict": verdict,
        "missed": [m["key"] for m in missed],
        "budgets": [r.to_json() for r in results],
        "baseline": baseline,
        "bench": {"how": bench_how, "path": str(store.stored_bench_path(path)),
                  "created": bench["created"], "elapsed_s": bench.get("elapsed_s")},
        "latency": latency_table(bench),
        "int8_layers": worst_int8_layers(_read_parity(path)),
        "plots": [f"bench/{p}" for p in bench.get("plots", [])],
        "model_card": card(source, bench),
    }
    md_path, json_path = write_reports(path / layout.LIVERI_DIR, report)
    _record_gate(path, verdict, report["missed"], md_path)
    return Outcome(verdict, missed, md_path, json_path)


def _latency(release: dict[str, Any], bench: dict[str, Any]) -> judge.BudgetResult:
    key = "release.latency_p99_ms"
    row = _row(bench, "saved_model", 1)
    return judge.at_most(key, release["latency_p99_ms"], row["p99_ms"] if row else None, "ms",
                         f"bench: SavedModel in-process, batch 1, one at a time, "
                         f"{row['samples'] if row else 0} samples")


def _metric(release: dict[str, Any], source: Manifest) -> judge.BudgetResult:
    main = source.main_metric
    value = source.metrics.get("saved_model", {}).get(main)
    return judge.metric_budget("release.min_metric", release["min_metric"], value,
                               source.higher_is_better,
                               f"manifest: saved_model {main} on the held-out set")


def _int8_drop(release: dict[str, Any], source: Manifest) -> judge.BudgetResult:
    key = "release.max_int8_metric_drop"
    formats = set(source.formats)
    if not {"tflite_float", "tflite_int8"} <= formats:
        return judge.not_applicable(key, release["max_int8_metric_drop"], "",
                                    "the version has no float and int8 TFLite pair")
    main = source.main_metric
    drop = judge.metric_drop(main, source.metrics, source.higher_is_better)
    return judge.at_most(key, release["max_int8_metric_drop"], drop, "",
                         f"manifest: {main} of tflite_float minus tflite_int8")


# Release params that choose, not budgets to judge.
SETTINGS = {"release.bundle_prefer", "release.bundle_batch"}


def _read_parity(version: Path) -> dict[str, Any]:
    parity = version / layout.PARITY_FILE
    return json.loads(parity.read_text()) if parity.exists() else {}


def _origin(experiment: str | None) -> str:
    return f"experiment {experiment!r}" if experiment else "a model trained elsewhere"


def _bundle(release: dict[str, Any], model_repo: Path, name: str,
            source: Manifest) -> judge.BudgetResult:
    size, how = bundle_bytes(model_repo, name, source.version)
    if size is None:
        return judge.not_applicable("release.max_bundle_bytes", release["max_bundle_bytes"],
                                    "bytes", how)
    return judge.at_most("release.max_bundle_bytes", release["max_bundle_bytes"], size, "bytes",
                         how)


def _server_qps(release: dict[str, Any], bench: dict[str, Any]) -> judge.BudgetResult:
    server = bench.get("server", {})
    row = next((r for r in server.get("concurrency", [])
                if r["concurrency"] == RELEASE_CONCURRENCY and r.get("samples")), None)
    note = "" if row else f"no server figures: {server.get('skipped', 'server not benched')}"
    return judge.at_least("release.min_server_qps", release["min_server_qps"],
                          row["throughput"] if row else None, "queries/s",
                          f"bench: gRPC Predict, batch 1, {RELEASE_CONCURRENCY} in flight", note)


def _baseline(path: Path, source: Manifest,
              compare_plan: regression.ComparePlan) -> dict[str, Any]:
    found = regression.last_released(path.parent, source.version)
    if found is None:
        return {"version": None, "regression": False,
                "note": "No earlier released version of this model: nothing to compare with."}
    version, baseline_dir = found
    return {"version": version, "path": str(baseline_dir),
            "comparison": regression.compare_p50(path, baseline_dir, compare_plan)}


def _regression(release: dict[str, Any], baseline: dict[str, Any]) -> judge.BudgetResult:
    key, allowed = "release.max_regression_pct", release["max_regression_pct"]
    if not baseline["version"]:
        return judge.not_applicable(key, allowed, "%", baseline["note"])
    c = baseline["comparison"]
    baseline["regression"] = regression.is_regression(c, allowed)
    return judge.BudgetResult(
        key, allowed, c["increase_pct"], "%", "p50 increase beyond noise <= budget",
        judge.MISSED if baseline["regression"] else judge.MET,
        f"SavedModel batch-1 p50 vs released version {baseline['version']}, "
        f"{c['plan']['rounds']} alternating rounds",
        f"{c['confidence']:.0%} CI {c['ci_pct'][0]:+.1f}%..{c['ci_pct'][1]:+.1f}%, "
        f"Mann-Whitney p={c['mann_whitney_p']:.2g}",
    )


def latency_table(bench: dict[str, Any]) -> list[dict[str, Any]]:
    """p50/p99 (ms) of every benched artifact at every batch size, and the server's sweep."""
    rows = [{"what": r["key"], "batch_size": r["batch_size"], "p50_ms": r["p50_ms"],
             "p99_ms": r["p99_ms"], "throughput": r["throughput"]}
            for r in bench.get("artifacts", [])]
    rows += [{"what": f"server, {r['concurrency']} in flight", "batch_size": r["batch_size"],
              "p50_ms": r["p50_ms"], "p99_ms": r["p99_ms"], "throughput": r["throughput"]}
             for r in bench.get("server", {}).get("concurrency", []) if r.get("samples")]
    return rows


def _has_release_figures(bench: dict[str, Any]) -> bool:
    return _row(bench, "saved_model", 1) is not None and bool(
        bench.get("server", {}).get("concurrency"))


def _row(bench: dict[str, Any], key: str, batch_size: int) -> dict[str, Any] | None:
    return next((r for r in bench.get("artifacts", [])
                 if r["key"] == key and r["batch_size"] == batch_size), None)


def _record_gate(path: Path, verdict: str, missed: list[str], report_md: Path) -> None:
    """The verdict in the manifest, re-read just before writing so nothing else is lost."""
    current = manifest.load(path)
    current.gate = {
        "verdict": verdict,
        "missed": missed,
        "report": str(report_md.relative_to(path)),
        "judged": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    manifest.write(path, current)
