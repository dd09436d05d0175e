"""`liveri run`, the main job, as a user runs it: twice, and once with a stage that fails."""

import json

import numpy as np
import pytest

from liveri import layout
from tests.conftest import liveri


def test_run_twice_trains_exports_serves_benches_and_gates(tmp_path):
    work = tmp_path / "work"
    first = liveri("run", "--workdir", str(work), "--set", "train.max_steps=200", timeout=900)
    assert "Verdict: RELEASED" in first.stdout
    for rel in ("logs/image_digits/params.txt", "logs/image_digits/metrics.json",
                "models/image_digits/1/saved_model.pb", "bundles/image_digits.zip",
                "bench/bench.json", "report.md", "figures/training_curve.png"):
        assert (work / rel).exists(), rel
    report = (work / "report.md").read_text()
    assert "![training curve](figures/training_curve.png)" in report
    assert "| release.latency_p99_ms |" in report and "tflite_int8" in report
    assert "PredictionServiceStub" in report and ":predict" in report
    assert "each answer equal to the SavedModel's own" in report

    second = liveri("run", "--workdir", str(work), "--set", "train.max_steps=250", timeout=900)
    assert "resuming from step 200" in second.stdout + second.stderr
    assert sorted(layout.versions(work / "models" / "image_digits")) == [1, 2]
    release = json.loads((work / "models/image_digits/2/liveri/release_report.json").read_text())
    assert release["baseline"]["version"] == 1
    report = (work / "report.md").read_text()
    assert "version 2" in report and "Compared with the last released version, 1" in report


def test_a_failing_stage_exits_2_naming_it(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    r = liveri("run", "--workdir", str(blocker), "--set", "train.max_steps=10", check=False)
    assert r.returncode == 2
    assert "stage 'train + evaluate' failed" in r.stderr and "--logdir" in r.stderr


@pytest.mark.slow  # about 2 minutes each: LoadGen's scenarios on six artifacts
@pytest.mark.parametrize("experiment, short", [
    ("image.DigitsVae", ["train.max_steps=300", "release.min_metric=3"]),
    ("image.DigitsGan", ["train.max_steps=1500", "release.min_metric=400"])])
def test_run_of_a_generator_releases_and_reports_its_samples(experiment, short, tmp_path):
    work = tmp_path / "work"
    sets = [arg for value in short for arg in ("--set", value)]
    run = liveri("run", "-e", experiment, "--workdir", str(work), *sets, timeout=900)
    assert "Verdict: RELEASED" in run.stdout
    report = (work / "report.md").read_text()
    assert "![samples](figures/samples/grid.png)" in report
    assert "![latent interpolation](figures/interpolation.png)" in report
    assert (work / "figures" / "interpolation.png").stat().st_size > 0
    assert "req.inputs['latent']" in report and "--sample 16 --seed 0" in report
    samples = np.load(work / "figures" / "samples" / "samples.npy")
    assert samples.shape == (32, 8, 8) and samples.max() <= 16
