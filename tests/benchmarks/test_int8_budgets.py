"""The int8-against-budget table: every model of a repository, its float and int8 metric, the
drop and the release gate's verdict on it."""

from __future__ import annotations

import subprocess
import sys

from liveri.benchmarks.int8_budgets import row

from liveri.artifact import manifest

MODULE = "liveri.benchmarks.int8_budgets"


def test_table_reads_each_models_int8_drop_and_judges_it_against_its_budget(digits_repo):
    source = manifest.load(digits_repo / "image_digits" / "1")
    run = subprocess.run([sys.executable, "-m", MODULE, str(digits_repo)], capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    header, rule, line = run.stdout.strip().splitlines()
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[:2] == ["image.Digits", "accuracy"]
    float_acc = source.metrics["tflite_float"]["accuracy"]
    int8_acc = source.metrics["tflite_int8"]["accuracy"]
    assert float(cells[2]) == round(float_acc, 4) and float(cells[3]) == round(int8_acc, 4)
    assert abs(float(cells[4]) - (float_acc - int8_acc)) < 1e-3
    assert float(cells[5]) == source.budgets["max_int8_metric_drop"]
    assert cells[6] == ("met" if float_acc - int8_acc <= 0.01 else "missed")
    assert float(cells[7]) < 0.3  # full int8 is under a third of float's bytes

    # A budget the drop cannot meet is judged missed.
    source.budgets["max_int8_metric_drop"] = -1.0
    assert row(source)["verdict"] == "missed"


def test_a_missing_repository_exits_2(tmp_path):
    run = subprocess.run([sys.executable, "-m", MODULE, str(tmp_path / "nope")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "no such folder" in run.stderr
