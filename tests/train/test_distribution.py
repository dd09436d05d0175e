"""Training under tf.distribute strategies, as `liveri train --strategy` runs it."""

import json

from tests.conftest import liveri


def test_multi_worker_with_two_local_workers_trains_and_checkpoints(tmp_path):
    r = liveri("train", "-e", "image.Digits", "--logdir", str(tmp_path), "--strategy",
               "multi_worker", "--workers", "2", "--set", "train.max_steps=100", "--set",
               "train.checkpoint_every=50")
    assert "launched 2 workers" in r.stderr
    assert (tmp_path / "checkpoints" / "ckpt-100.index").exists()
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["step"] == 100 and metrics["accuracy"] > 0.8
    assert not (tmp_path / ".worker").exists()


def test_mirrored_strategy_trains(tmp_path):
    liveri("train", "-e", "image.Digits", "--logdir", str(tmp_path), "--strategy", "mirrored",
           "--set", "train.max_steps=60")
    assert json.loads((tmp_path / "metrics.json").read_text())["step"] == 60
