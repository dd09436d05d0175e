"""The serve overhead benchmark runs end to end (tiny mode) and writes every figure with its floors.

Only that it works is tested here; the figures themselves are judged from a full run.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.serve.serve_helpers import build_digits, install


@pytest.mark.slow
def test_quick_run_writes_the_three_figures_with_their_floors(tmp_path):
    repo = tmp_path / "repo"
    install(build_digits(str(tmp_path / "built")), str(repo), "digits", 1)
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "liveri.benchmarks.serve_overhead", "--model_repo", str(repo),
         "--name", "digits", "--out", str(out), "--quick", "--tensorflow_inter_op_parallelism=2"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((out / "serve_overhead.json").read_text())
    figures = report["figures"]["server"]
    for key in ("overhead_ms", "throughput_fraction_of_echo", "batching_multiplier"):
        assert isinstance(figures[key], float) and key in figures["goals_met"]
    assert figures["throughput_fraction_of_echo"] > 0 and figures["batching_multiplier"] > 0
    for floor in ("echo p50_ms", "echo_aio p50_ms", "echo qps@32", "echo_aio qps@32",
                  "echo_aio+model p50_ms"):
        assert report["medians"][floor] > 0
    assert report["floors"]["in_process_p50_ms"] > 0
    assert report["floors"]["paced_in_process_p50_ms"] > 0  # (a)'s floor: calls a round trip apart
    # Each figure is the median of its per-round values, each from measurements side by side.
    for row in report["rounds"]:
        assert row["figures"]["server"]["overhead_ms"] == pytest.approx(
            row["server p50_ms"] - row["echo_aio p50_ms"] - row["paced_in_process_p50_ms"])
        assert row["figures"]["server"]["overhead_vs_echo_with_model_ms"] == pytest.approx(
            row["server p50_ms"] - row["echo_aio+model p50_ms"])
        assert row["floors_together_overhead_ms"] == pytest.approx(
            row["echo_aio+model p50_ms"] - row["echo_aio p50_ms"] - row["paced_in_process_p50_ms"])
        assert row["figures"]["server"]["throughput_fraction_of_echo"] == pytest.approx(
            row["server+batching qps@32"] / row["echo_aio qps@32"])
    assert report["repeats"] == len(report["rounds"]) == 2  # one forward, one reversed
    low, high = figures["spread"]["throughput_fraction_of_echo"]
    assert low <= figures["throughput_fraction_of_echo"] <= high
    assert report["tensorflow_threads"] == {"intra_op": 1, "inter_op": 2}
    assert "(a) of the floors together" in result.stdout
    assert "(a) overhead" in result.stdout and "(c) batching multiplier" in result.stdout
