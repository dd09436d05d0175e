"""`liveri bench`: every artifact and the server measured, bench.json and readable plots."""

from __future__ import annotations

import json
import zipfile

import pytest
from liveri.benchmarks import store
from liveri.benchmarks.bench import BATCH_SIZES
from liveri.benchmarks.runners import TFLITE_THREADS
from liveri.benchmarks.server_bench import CONCURRENCY

from liveri.artifact import manifest
from tests.benchmarks.helpers import MODEL, run_liveri

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _ordered(row):
    return 0 < row["min_ms"] <= row["p50_ms"] <= row["p90_ms"] <= row["p99_ms"] <= row["max_ms"]


def test_bench_reports_percentiles_for_every_artifact_at_every_batch(benched):
    bench = json.loads((benched["out"] / "bench.json").read_text())
    source = manifest.load(benched["repo"] / MODEL / "1")
    assert not bench["skipped"]
    measured = {(r["format"], r["threads"], r["batch_size"]) for r in bench["artifacts"]}
    for item in source.artifacts:
        fmt = item.format
        threads = TFLITE_THREADS if fmt.startswith("tflite") else (
            (None,) if fmt == "saved_model" else (1,))
        for t in threads:
            for b in BATCH_SIZES:
                assert (fmt, t, b) in measured, f"{fmt} threads={t} batch={b} not measured"
    assert set(bench["formats"]) == {a.format for a in source.artifacts}
    graph_bytes = source.artifact("saved_model").bytes
    assert bench["formats"]["saved_model"]["bytes"] > graph_bytes  # plus variables
    for row in bench["artifacts"]:
        assert _ordered(row), row
        assert row["samples"] >= 60 and row["throughput"] > 0
        assert len(row["rounds_p50_ms"]) == 3


def test_bench_loads_the_server_at_every_concurrency_and_runs_the_scenarios(benched):
    server = json.loads((benched["out"] / "bench.json").read_text())["server"]
    assert "skipped" not in server, server.get("skipped")
    assert [r["concurrency"] for r in server["concurrency"]] == list(CONCURRENCY)
    for row in server["concurrency"]:
        assert row["errors"] == 0 and _ordered(row) and row["throughput"] > 0
    scenarios = server["scenarios"]
    for name in ("single_stream", "multi_stream", "offline"):
        run = scenarios[name]
        assert run["loadgen"].startswith("6.") and run["errors"] == 0, (name, run)
        assert run["validity"] in ("VALID", "INVALID") and run["samples_per_s"] > 0
        assert (benched["out"] / "loadgen" / f"server.{name}.txt").exists()
    single = scenarios["single_stream"]
    assert single["queries"] >= 662 and single["validity"] == "VALID", single
    assert single["p50_ms"] <= single["p99_ms"] <= single["early_stopping_p99_ms"]
    assert scenarios["multi_stream"]["samples_per_query"] == 8
    points = scenarios["server"]["points"]
    assert len(points) == 3 and all(p["errors"] == 0 for p in points)
    offered = [p["offered_qps"] for p in points]
    assert offered == sorted(offered)
    best = scenarios["server"]["max_valid_qps"]
    assert best in offered, points  # a quarter of the peak is held on any quiet machine
    assert all(p["validity"] == "VALID" for p in points if p["offered_qps"] <= best)


def test_bench_runs_loadgen_scenarios_on_every_artifact(benched):
    bench = json.loads((benched["out"] / "bench.json").read_text())
    keys = {r["key"] for r in bench["artifacts"]}
    assert set(bench["artifact_scenarios"]) == keys
    for key, runs in bench["artifact_scenarios"].items():
        assert set(runs) == {"single_stream", "multi_stream", "server", "offline"}
        single, offline = runs["single_stream"], runs["offline"]
        assert single["validity"] == "VALID" and single["queries"] >= 662, (key, single)
        assert offline["samples_per_s"] > single["samples_per_s"], key  # batches pay off
        assert runs["server"]["offered_qps"] == pytest.approx(0.5 * single["samples_per_s"])
        assert all(r["errors"] == 0 for r in runs.values()), key


def test_bench_draws_png_plots_and_keeps_a_copy_with_the_version(benched):
    bench = json.loads((benched["out"] / "bench.json").read_text())
    assert len(bench["plots"]) >= 2
    for name in bench["plots"]:
        data = (benched["out"] / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 10_000, name
    version_dir = benched["repo"] / MODEL / "1"
    assert store.fresh_bench(version_dir, manifest.load(version_dir))["created"] == \
        bench["created"]


def test_bench_of_a_missing_version_is_bad_usage(benched, tmp_path, capsys):
    code = run_liveri("bench", "--model_repo", str(benched["repo"]), "--name", MODEL,
                      "--version", "9", "--out", str(tmp_path))
    assert code == 2
    assert "--version 9" in capsys.readouterr().err


@pytest.mark.slow
def test_bench_uses_an_already_running_server(benched, tmp_path):
    from liveri.serve.server import ModelServer

    with ModelServer(model_repo=str(benched["repo"]), port=0, rest_api_port=None,
                     metrics_port=None) as server:
        code = run_liveri("bench", "--model_repo", str(benched["repo"]), "--name", MODEL,
                          "--server", f"127.0.0.1:{server.grpc_port}", "--quick",
                          "--out", str(tmp_path))
    assert code == 0
    section = json.loads((tmp_path / "bench.json").read_text())["server"]
    assert section["started_by_bench"] is False
    assert section["target"] == f"127.0.0.1:{server.grpc_port}"
    assert all(r["errors"] == 0 and r["samples"] > 0 for r in section["concurrency"])


def test_a_bundle_can_prefer_the_fastest_artifact_of_the_bench(release_repo, tmp_path):
    """release.bundle_prefer=latency: the bundle packs the artifact with the lowest one-thread
    p50 at release.bundle_batch in the version's own bench."""
    from liveri.mobile.bundler import make_bundle

    version = release_repo / MODEL / "1"
    path = version / "liveri" / "manifest.json"
    spec = json.loads(path.read_text())
    spec["budgets"].update(bundle_prefer="latency", bundle_batch=8)
    path.write_text(json.dumps(spec))
    bench = json.loads((version / "liveri" / "bench" / "bench.json").read_text())
    p50 = {r["format"]: r["p50_ms"] for r in bench["artifacts"]
           if r["batch_size"] == 8 and r["threads"] == 1 and r["format"].startswith("tflite")}
    bundle = make_bundle(release_repo, MODEL, out=tmp_path / "b.zip")
    chosen = json.loads(zipfile.ZipFile(bundle).read("bundle.json"))["chosen"]
    assert chosen["prefer"] == "latency" and chosen["batch"] == 8
    fit = set(chosen["measured"])
    assert fit and fit <= set(p50)
    assert chosen["why"].startswith(min(fit, key=p50.get) + ": the fastest")
