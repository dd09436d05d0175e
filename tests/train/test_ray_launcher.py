"""`liveri train --strategy multi_worker --launcher ray`: workers placed by Ray Train on a local
Ray cluster the command starts, behaving as the local launcher's (checkpoints, resume, parity)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import liveri
from tests.train.test_distribution import ACCURACY_NOISE, LOSS_NOISE, SHORT, final_dev

pytest.importorskip("ray.train.tensorflow", reason="ray[train] is installed by scripts/setup.sh")

RAY = ["--strategy", "multi_worker", "--launcher", "ray", "--workers", "2"]


def _ray_workers() -> list[str]:
    """Ray Train worker processes alive on this machine."""
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "RayTrainWorker" in line]


@pytest.fixture(scope="module")
def two_ray_workers(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("ray_workers")
    r = liveri("train", "-e", "image.Digits", "--logdir", str(logdir), *RAY, *SHORT)
    return logdir, r


def test_ray_workers_train_checkpoint_and_show_each_step(two_ray_workers):
    logdir, r = two_ray_workers
    assert "Ray cluster started here: 2 workers" in r.stderr
    assert "[image.Digits] step 50/100" in r.stderr and "[image.Digits] step 100/100" in r.stderr
    assert (logdir / "checkpoints" / "ckpt-100.index").exists()
    assert (logdir / "params.txt").exists() and list((logdir / "summaries").iterdir())
    printed = json.loads(r.stdout.strip().splitlines()[-1])
    assert printed == json.loads((logdir / "metrics.json").read_text())
    assert printed["step"] == 100 and printed["accuracy"] > 0.8
    assert not _ray_workers()  # the cluster it started ended with it


def test_two_ray_workers_match_one_device_within_seed_noise(two_ray_workers, tmp_path):
    liveri("train", "-e", "image.Digits", "--logdir", str(tmp_path), *SHORT)
    one, two = final_dev(tmp_path), final_dev(two_ray_workers[0])
    assert abs(one["loss"] - two["loss"]) <= LOSS_NOISE, (one, two)
    assert abs(one["accuracy"] - two["accuracy"]) <= ACCURACY_NOISE, (one, two)


def test_kill_9_of_the_driver_stops_the_workers_and_a_rerun_resumes(tmp_path):
    logdir = tmp_path / "logs"
    steps = ["--set", "train.checkpoint_every=50", "--set", "train.log_every=25"]
    driver = subprocess.Popen(
        [sys.executable, "-m", "liveri.cli", "train", "-e", "image.Digits", "--logdir",
         str(logdir), *RAY, "--set", "train.max_steps=100000", *steps],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 180
    while not list((logdir / "checkpoints").glob("ckpt-*.index")) and time.time() < deadline:
        time.sleep(0.2)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    assert list((logdir / "checkpoints").glob("ckpt-*.index")), "no checkpoint within 180 s"
    deadline = time.time() + 30
    while _ray_workers() and time.time() < deadline:
        time.sleep(0.5)
    assert not _ray_workers(), "Ray workers outlived the killed driver"
    r = liveri("train", "-e", "image.Digits", "--logdir", str(logdir), *RAY,
               "--set", "train.max_steps=420", *steps)
    assert "resuming from step" in r.stderr
    assert json.loads((logdir / "metrics.json").read_text())["step"] == 420


def test_a_failing_worker_fails_the_run_with_its_error(digits_logdir, tmp_path):
    logdir = tmp_path / "logs"
    shutil.copytree(digits_logdir, logdir)
    # the workers refuse to resume a logdir trained with other model params
    r = liveri("train", "-e", "image.Digits", "--logdir", str(logdir), *RAY,
               "--set", "model.hidden_dims=32", check=False, timeout=300)
    assert r.returncode == 1, r.stderr[-2000:]
    assert "a Ray worker failed" in r.stderr
    assert "model.hidden_dims : 128 (logdir) -> 32 (now)" in r.stderr


def test_an_existing_cluster_is_used_by_address(tmp_path):
    ray_cli = str(Path(sys.executable).with_name("ray"))
    port = str(_free_port())
    subprocess.run([ray_cli, "start", "--head", "--port", port, "--num-cpus", "2",
                    "--include-dashboard=false", "--disable-usage-stats"], check=True,
                   capture_output=True, timeout=120)
    try:
        env = dict(os.environ, RAY_ADDRESS=f"127.0.0.1:{port}")
        r = subprocess.run([sys.executable, "-m", "liveri.cli", "train", "-e", "image.Digits",
                            "--logdir", str(tmp_path), *RAY, "--set", "train.max_steps=40"],
                           capture_output=True, text=True, timeout=300, env=env)
        assert r.returncode == 0, r.stderr[-2000:]
        assert f"Ray cluster 127.0.0.1:{port}: 2 workers" in r.stderr
        assert json.loads((tmp_path / "metrics.json").read_text())["step"] == 40
    finally:
        subprocess.run([ray_cli, "stop", "--force"], capture_output=True, timeout=120)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
