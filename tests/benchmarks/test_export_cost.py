"""The export-cost table: seconds `liveri export` spent per format beside each artifact's size."""

from __future__ import annotations

import subprocess
import sys

from liveri.benchmarks.export_cost import artifact_bytes, export_cost

from liveri.artifact import manifest

MODULE = "liveri.benchmarks.export_cost"


def test_table_lists_every_artifact_with_its_export_seconds_and_bytes(digits_repo):
    version_dir = digits_repo / "image_digits" / "1"
    source = manifest.load(version_dir)
    run = subprocess.run([sys.executable, "-m", MODULE, str(version_dir)], capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    header, *lines = run.stdout.strip().splitlines()
    assert header.split() == ["format", "bytes", "x", "float", "export", "s"]
    table = {cells[0]: cells[1:] for cells in (line.split() for line in lines)}
    assert list(table) == [a.format for a in source.artifacts]
    for item in source.artifacts:
        size, vs_float, seconds = table[item.format]
        assert int(size.replace(",", "")) == artifact_bytes(version_dir, item)
        assert float(seconds) > 0, item.format
    assert float(table["tflite_float"][1]) == 1.0
    assert float(table["tflite_int8"][1]) <= 0.3  # the size goal, read off the table
    rows = {r["format"]: r for r in export_cost(version_dir, source)}
    assert rows["saved_model"]["bytes"] > source.artifact("saved_model").bytes


def test_table_of_a_folder_without_manifest_exits_2(tmp_path):
    run = subprocess.run([sys.executable, "-m", MODULE, str(tmp_path)], capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 2 and "manifest.json" in run.stderr
