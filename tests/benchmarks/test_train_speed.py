"""The training speed benchmark runs end to end in quick mode and writes every figure.

Quick mode takes about 2 minutes on 2 shared cores, hence slow; the figures themselves are
judged from a full run.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_quick_run_writes_loop_vs_fit_pipeline_and_workers(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "liveri.benchmarks.train_speed", "--out", str(tmp_path),
         "--quick"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "train_speed.json").read_text())
    loop_vs_fit = report["loop_vs_fit"]
    assert loop_vs_fit["custom_loop_step_ms"] > 0 and loop_vs_fit["keras_fit_step_ms"] > 0
    assert len(loop_vs_fit["custom_loop_rounds_ms"]) == loop_vs_fit["rounds"]
    digits = report["pipeline"]["image.Digits"]
    assert digits["input_examples_per_s"] > 0 and digits["train_examples_per_s"] > 0
    assert set(report["workers"]) == {"1", "2"}
    assert all(row["steps_per_s"] > 0 for row in report["workers"].values())
    assert "(a) image.Digits median step time" in result.stdout
    assert "(c) image.Digits with multi_worker" in result.stdout
    options = report["step_options"]["image.Digits"]
    assert set(options) == {"float32", "xla", "bfloat16", "xla+bfloat16"}
    assert all(row["step_ms"] > 0 for row in options.values())
    assert "(d) median ms per step" in result.stdout
