"""The Predict-path CPU benchmark runs (tiny mode) against two builds and pairs them per round."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import liveri.serve
import pytest

from tests.serve.serve_helpers import build_digits, install


@pytest.mark.slow
def test_two_builds_are_measured_side_by_side_in_every_round(tmp_path):
    repo = tmp_path / "repo"
    install(build_digits(str(tmp_path / "built")), str(repo), "digits", 1)
    serve_dir = os.path.dirname(liveri.serve.__file__)  # the same code, as the baseline too
    result = subprocess.run(
        [sys.executable, "-m", "liveri.benchmarks.predict_path", "--model_repo", str(repo),
         "--name", "digits", "--out", str(tmp_path / "out"), "--repeats", "2", "--seconds",
         "0.3", "--warmup_s", "0.3", "--baseline_serve", serve_dir],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "out" / "predict_path.json").read_text())
    assert len(report["rounds"]) == 2
    for row in report["rounds"]:
        for build in ("server", "baseline"):
            assert row[build]["requests"] > 0 and row[build]["cpu_us_per_request"] > 0
    ratios = [r["server"]["cpu_us_per_request"] / r["baseline"]["cpu_us_per_request"]
              for r in report["rounds"]]
    ratio = report["cpu_us_per_request"]["server_over_baseline"]
    assert ratio["range"] == [min(ratios), max(ratios)]
    assert "server / baseline, within each round" in result.stdout
