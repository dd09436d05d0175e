"""`liveri release`: budgets decide the verdict; a slower build is caught, an equal one never."""

from __future__ import annotations

import json

from liveri.artifact import manifest
from tests.benchmarks.builds import copy_version, make_slower_version
from tests.benchmarks.helpers import GENEROUS, MODEL, release_args, run_liveri


def _report(repo, version):
    return json.loads((repo / MODEL / str(version) / "liveri" / "release_report.json").read_text())


def test_an_impossible_latency_budget_is_missed_and_named(digits_logdir, release_repo, capsys):
    code = run_liveri(*release_args(digits_logdir, release_repo, *GENEROUS,
                                    "release.latency_p99_ms=0.0001"))
    out, err = capsys.readouterr()
    assert code == 1
    assert "release.latency_p99_ms" in err
    assert "release_report.md" in out and "release_report.json" in out
    report = _report(release_repo, 1)
    assert report["verdict"] == "rejected" and report["missed"] == ["release.latency_p99_ms"]
    gate = manifest.load(release_repo / MODEL / "1").gate
    assert gate["verdict"] == "rejected" and gate["missed"] == ["release.latency_p99_ms"]


def test_a_server_rate_beyond_what_loadgen_judges_valid_is_missed(digits_logdir, release_repo):
    code = run_liveri(*release_args(digits_logdir, release_repo, *GENEROUS,
                                    "release.min_server_qps=1000000"))
    assert code == 1
    budget = next(b for b in _report(release_repo, 1)["budgets"]
                  if b["key"] == "release.min_server_qps")
    assert budget["verdict"] == "missed" and budget["measured"] < 1_000_000
    assert "VALID" in budget["source"]


def test_generous_budgets_release_twice_in_a_row(digits_logdir, release_repo, capsys):
    for _ in range(2):
        assert run_liveri(*release_args(digits_logdir, release_repo, *GENEROUS)) == 0
        assert "release." not in capsys.readouterr().err
    report = _report(release_repo, 1)
    assert report["verdict"] == "released" and report["missed"] == []
    keys = {b["key"] for b in report["budgets"]}
    assert {"release.latency_p99_ms", "release.min_metric", "release.max_int8_metric_drop",
            "release.max_bundle_bytes", "release.min_server_qps",
            "release.max_regression_pct"} <= keys
    assert all(b["measured"] is not None for b in report["budgets"]
               if b["verdict"] != "not applicable")
    assert report["bench"]["how"] == "reused the version's fresh bench"
    by_key = {b["key"]: b for b in report["budgets"]}
    assert "LoadGen SingleStream" in by_key["release.latency_p99_ms"]["source"]
    assert "LoadGen Server scenario" in by_key["release.min_server_qps"]["source"]
    md = (release_repo / MODEL / "1" / "liveri" / "release_report.md").read_text()
    assert "## Model card" in md and "![latency_distribution]" in md
    assert "## MLPerf LoadGen scenarios" in md and "| server (gRPC) |" in md
    assert "## tflite_int8: the 10 layers int8 hurts most" in md
    assert manifest.load(release_repo / MODEL / "1").gate["verdict"] == "released"


def test_a_slower_build_is_a_regression_and_an_equal_one_never_is(digits_logdir, release_repo,
                                                                    capsys):
    assert run_liveri(*release_args(digits_logdir, release_repo, *GENEROUS)) == 0
    same = copy_version(release_repo / MODEL / "1")
    for _ in range(2):
        assert run_liveri(*release_args(digits_logdir, release_repo, *GENEROUS)) == 0
        assert "release.max_regression_pct" not in capsys.readouterr().err
        baseline = _report(release_repo, same.name)["baseline"]
        assert baseline["version"] == 1 and baseline["regression"] is False

    slower = make_slower_version(same)
    code = run_liveri(*release_args(digits_logdir, release_repo, *GENEROUS))
    err = capsys.readouterr().err
    assert code == 1
    assert "release.max_regression_pct" in err and "release.latency_p99_ms" not in err
    baseline = _report(release_repo, slower.name)["baseline"]
    assert baseline["version"] == int(same.name) and baseline["regression"] is True
    assert baseline["comparison"]["increase_pct"] > 50
