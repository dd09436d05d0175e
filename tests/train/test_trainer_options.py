"""Trainer switches a researcher sets in params: variational noise, weight averaging, mixed
precision. Each is checked by real (short) training in this process."""

import json
from pathlib import Path

import pytest

from liveri.cli import experiment_params

SHORT = ["input.deterministic=True", "train.max_steps=8", "train.log_every=2",
         "train.eval_every=4", "train.checkpoint_every=4", "train.batch_size=32"]


def train(logdir: Path, *overrides: str) -> "object":
    from liveri.train.trainer import Trainer

    trainer = Trainer(experiment_params("image.Digits", [*SHORT, *overrides]), logdir)
    trainer.Train()
    return trainer


def log(logdir: Path) -> list[dict]:
    return [json.loads(line) for line in (logdir / "train_log.jsonl").read_text().splitlines()]


def test_variational_noise_starts_at_its_step_and_never_reaches_eval(tmp_path):
    # No dropout and plain SGD: the only difference between the runs is the weight noise.
    same = ["model.dropout.keep_prob=1.0", "train.optimizer='sgd'", "train.learning_rate=0.05",
            "train.lr_schedule='constant'"]
    train(tmp_path / "clean", *same)
    train(tmp_path / "noisy", *same, "model.vn.global_vn=True", "model.vn.scale=0.5",
          "model.vn.start_step=4")
    clean, noisy = log(tmp_path / "clean"), log(tmp_path / "noisy")
    losses = [{r["step"]: r["loss"] for r in run if "loss" in r} for run in (clean, noisy)]
    for step in (2, 4):  # steps 0..3 run before start_step: identical training
        assert losses[1][step] == pytest.approx(losses[0][step], rel=1e-5)
    for step in (6, 8):  # from step 4 on the noise changes what the weights compute
        assert abs(losses[1][step] - losses[0][step]) > 0.05
    # Eval at step 4 runs with the step at start_step: noise there would change the metrics.
    dev = [next(r["dev"] for r in run if r.get("step") == 4 and "dev" in r)
           for run in (clean, noisy)]
    assert dev[1]["accuracy"] == dev[0]["accuracy"]
    assert dev[1]["loss"] == pytest.approx(dev[0]["loss"], rel=1e-5)
