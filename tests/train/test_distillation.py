"""image.DigitsDistilled: a small student learns from a trained image.Digits teacher."""

import json

import numpy as np
import pytest
from liveri.train.registry import experiment_params

from liveri.errors import UsageError

SHORT = ["input.deterministic=True", "train.log_every=50", "train.eval_every=1000",
         "train.checkpoint_every=1000"]


@pytest.fixture(scope="module")
def teacher_logdir(tmp_path_factory):
    from liveri.train.trainer import Trainer

    logdir = tmp_path_factory.mktemp("teacher")
    Trainer(experiment_params("image.Digits", [*SHORT, "train.max_steps=150"]), logdir).Train()
    return logdir


def test_student_learns_from_the_teacher_alone(teacher_logdir, tmp_path):
    from liveri.train.trainer import Trainer

    # mixing_weight=1: the labels carry no weight, so all it learns comes from the teacher.
    params = experiment_params("image.DigitsDistilled", [
        *SHORT, "train.max_steps=150", f"train.distill.teacher_logdir='{teacher_logdir}'",
        "train.distill.mixing_weight=1.0"])
    trainer = Trainer(params, tmp_path)
    assert trainer.teacher is not None
    student_size = sum(int(np.prod(v.shape)) for v in trainer.task.variables)
    teacher_size = sum(int(np.prod(v.shape)) for v in trainer.teacher.variables)
    assert student_size * 5 < teacher_size
    trainer.Train()
    teacher = json.loads((teacher_logdir / "metrics.json").read_text())
    student = json.loads((tmp_path / "metrics.json").read_text())
    assert teacher["accuracy"] > 0.8
    assert student["accuracy"] > 0.5  # ten digits: chance is 0.1


def test_soft_target_loss_is_zero_only_when_the_distributions_agree():
    from liveri.train.trainer import soft_target_loss

    from liveri.lazy import tf

    logits = tf.constant([[2.0, 0.5, -1.0], [0.0, 1.0, 3.0]])
    assert float(soft_target_loss(logits, logits, 3.0)) == pytest.approx(0.0, abs=1e-6)
    assert float(soft_target_loss(logits, -logits, 3.0)) > 0.1


def test_a_missing_teacher_says_how_to_train_it(tmp_path):
    from liveri.train.trainer import Trainer

    params = experiment_params("image.DigitsDistilled", [
        f"train.distill.teacher_logdir='{tmp_path / 'none'}'"])
    with pytest.raises(UsageError, match="liveri train -e image.Digits --logdir"):
        Trainer(params, tmp_path / "student")
