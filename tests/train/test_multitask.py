"""image.DigitsMultiTask: one trunk, a digit head and a parity head, weighted by params."""

import json

import numpy as np
from liveri.train.registry import experiment_params

SHORT = ["input.deterministic=True", "train.max_steps=60", "train.log_every=30",
         "train.eval_every=60", "train.checkpoint_every=60"]


def train(logdir, *overrides):
    from liveri.train.trainer import Trainer

    trainer = Trainer(experiment_params("image.DigitsMultiTask", [*SHORT, *overrides]), logdir)
    initial = {p: v.numpy() for p, v in trainer.task.VariablesByPath().items()}
    trainer.Train()
    return trainer, initial


def test_both_heads_learn_from_the_shared_trunk(tmp_path):
    train(tmp_path)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["accuracy"] > 0.5  # ten digits: chance is 0.1
    assert metrics["parity_accuracy"] > 0.7  # two classes: chance is 0.5
    assert np.isfinite(metrics["parity_loss"])


def test_a_zero_task_weight_leaves_that_head_untrained(tmp_path):
    trainer, initial = train(tmp_path, "model.task_weights=(1.0, 0.0)")
    after = {p: v.numpy() for p, v in trainer.task.VariablesByPath().items()}
    aux = [p for p in after if "/aux_logits/" in p]
    trunk = [p for p in after if "/conv/" in p]
    assert aux and trunk
    assert all(np.array_equal(after[p], initial[p]) for p in aux)
    assert all(not np.array_equal(after[p], initial[p]) for p in trunk)
