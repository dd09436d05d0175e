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
from liveri.benchmarks.loadgen import SCENARIOS
from liveri.benchmarks.report import worst_int8_layers, write_reports
from liveri.benchmarks.runners import SAVED_MODEL_KEY
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
        "scenarios": scenario_table(bench),
        "int8_layers": worst_int8_layers(_read_parity(path)),
        "plots": [f"bench/{p}" for p in bench.get("plots", [])],
        "model_card": card(source, bench),
    }
    md_path, json_path = write_reports(path / layout.LIVERI_DIR, report)
    _record_gate(path, verdict, report["missed"], md_path)
    return Outcome(verdict, missed, md_path, json_path)


def _latency(release: dict[str, Any], bench: dict[str, Any]) -> judge.BudgetResult:
    """LoadGen's SingleStream on the SavedModel: early stopping's p99 estimate where LoadGen
    could make one, else the p99 it observed (with its verdict in the source)."""
    key = "release.latency_p99_ms"
    run = bench.get("artifact_scenarios", {}).get(SAVED_MODEL_KEY, {}).get("single_stream")
    if run is None:
        return judge.at_most(key, release["latency_p99_ms"], None, "ms", "bench: LoadGen "
                             "SingleStream on the SavedModel", "the bench has no such run")
    estimate = run["early_stopping_p99_ms"]
    how = ("early stopping's p99 estimate" if estimate is not None
           else "observed p99 (early stopping not met)")
    return judge.at_most(key, release["latency_p99_ms"],
                         estimate if estimate is not None else run["p99_ms"], "ms",
                         f"bench: LoadGen SingleStream on the SavedModel, {run['queries']} "
                         f"queries, {run['validity']}; {how}")


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
    scenario = server.get("scenarios", {}).get("server")
    note = "" if scenario else f"no server figures: {server.get('skipped', 'server not benched')}"
    rates = ", ".join(f"{p['offered_qps']:.0f}/s {p['validity']}"
                      for p in scenario["points"]) if scenario else ""
    return judge.at_least("release.min_server_qps", release["min_server_qps"],
                          scenario["max_valid_qps"] if scenario else None, "queries/s",
                          f"bench: LoadGen Server scenario over gRPC Predict, batch 1, the "
                          f"highest Poisson rate judged VALID ({rates})", note)


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


def scenario_table(bench: dict[str, Any]) -> list[dict[str, Any]]:
    """LoadGen's verdict and headline figure of each scenario, per artifact and the server."""
    runs = dict(bench.get("artifact_scenarios", {}))
    server = bench.get("server", {}).get("scenarios")
    if server:
        points, best = server["server"]["points"], server["server"]["max_valid_qps"]
        held = next((p for p in points if p["offered_qps"] == best), points[-1])
        runs["server (gRPC)"] = {**server, "server": held}
    return [{"what": key, **{name: {k: run[name].get(k) for k in SCENARIO_FIGURES}
                             for name in SCENARIOS}}
            for key, run in runs.items() if "error" not in run]


SCENARIO_FIGURES = ("validity", "p99_ms", "early_stopping_p99_ms", "samples_per_s",
                    "offered_qps")


def _has_release_figures(bench: dict[str, Any]) -> bool:
    """A bench the gate can read: LoadGen's runs on the SavedModel and on the server."""
    return (SAVED_MODEL_KEY in bench.get("artifact_scenarios", {})
            and "scenarios" in bench.get("server", {}))


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
