"""scripts/gpu_check.sh's measuring: real `liveri train` runs, steps/s and a finite loss; on this
machine (no GPU) only the CPU column."""

from __future__ import annotations

import json
import math

from liveri.benchmarks import gpu_check


def test_gpu_check_trains_on_the_cpu_and_reports_steps_per_second(tmp_path, capsys):
    code = gpu_check.main(["--out", str(tmp_path), "--steps", "40",
                           "--experiments", "image.Digits"])
    table = capsys.readouterr().out
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert code == 0
    if not report["gpus"]:
        assert report["runs"] == ["cpu"] and "CPU runs only" in table
    cpu = report["results"]["image.Digits"]["cpu"]
    assert cpu["finite"] and cpu["steps_per_s"] > 1 and math.isfinite(cpu["final_loss"])


def test_a_loss_that_is_not_finite_or_a_failed_run_fails_the_check():
    report = {"results": {"a": {"cpu": {"finite": True, "final_loss": 0.3},
                                "gpu_mixed": {"finite": False, "final_loss": float("nan")}},
                          "b": {"cpu": {"finite": False, "error": "OOM when allocating"}}}}
    bad = gpu_check.failures(report)
    assert len(bad) == 2 and "a gpu_mixed: loss nan" in bad[0] and "OOM" in bad[1]
