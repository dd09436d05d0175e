"""Trainer switches a researcher sets in params: variational noise, weight averaging, mixed
precision. Each is checked by real (short) training in this process."""

import json
from pathlib import Path

import numpy as np
import pytest
from liveri.train.registry import experiment_params

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


def test_weight_averages_are_checkpointed_and_used_by_eval_and_export(tmp_path):
    from liveri.export.exporter import export
    from liveri.train.evaluation import evaluate
    from liveri.train.trainer import restore_task

    from liveri.lazy import tf

    logdir = tmp_path / "logs"
    trainer = train(logdir, "train.ema_decay=0.9")
    raw = {path: v.numpy() for path, v in trainer.task.VariablesByPath().items()}
    averages = {path: v.numpy() for path, v in trainer.averages.by_path.items()}
    assert averages and set(averages) <= set(raw)
    assert all(np.abs(averages[p] - raw[p]).max() > 1e-4 for p in averages if "/w" in p)

    # restore_task (what eval and export call) loads the averages, not the raw weights.
    task, step, _ = restore_task(trainer.params, logdir)
    restored = {path: v.numpy() for path, v in task.VariablesByPath().items()}
    assert step == 8
    for path in averages:
        np.testing.assert_array_equal(restored[path], averages[path])
    # The test metrics training wrote are those of the averaged weights.
    written = json.loads((logdir / "metrics.json").read_text())
    assert written["loss"] == pytest.approx(evaluate(task, trainer.input, "test")["loss"],
                                            rel=1e-5)

    params = trainer.params
    version = export(params, logdir, tmp_path / "repo", "digits", ["saved_model"])
    served = tf.saved_model.load(str(version)).signatures["features"]
    pixels = trainer.input.Examples("test")["pixels"][:16]
    features = task.Preprocess(pixels)
    scores = served(features=features)["scores"].numpy()
    np.testing.assert_allclose(scores, tf.nn.softmax(task.Logits(features)).numpy(), atol=1e-5)
    assert np.abs(scores - tf.nn.softmax(trainer.task.Logits(features)).numpy()).max() > 1e-4


def test_mixed_precision_trains_with_a_finite_loss_and_writes_metrics(tmp_path):
    trainer = train(tmp_path, "train.mixed_precision=True", "train.max_steps=20",
                    "train.log_every=10")
    assert trainer.task.compute_dtype == "float16"
    assert all(v.dtype.name == "float32" for v in trainer.task.variables)
    assert type(trainer.optimizer).__name__.startswith("LossScaleOptimizer")
    losses = [r["loss"] for r in log(tmp_path) if "loss" in r]
    assert losses and all(np.isfinite(losses)) and losses[-1] < losses[0]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["step"] == 20 and np.isfinite(metrics["loss"]) and metrics["accuracy"] > 0.2


def test_bfloat16_mixed_precision_needs_no_loss_scaling(tmp_path):
    trainer = train(tmp_path, "train.mixed_precision=True", "train.mixed_precision_dtype='bfloat16'",
                    "train.max_steps=20", "train.log_every=10")
    assert trainer.task.compute_dtype == "bfloat16"
    assert not type(trainer.optimizer).__name__.startswith("LossScaleOptimizer")
    losses = [r["loss"] for r in log(tmp_path) if "loss" in r]
    assert losses and all(np.isfinite(losses)) and losses[-1] < losses[0]


def test_bfloat16_training_reports_the_metrics_of_the_float32_model_export_ships(tmp_path):
    from liveri.train.evaluation import evaluate
    from liveri.train.trainer import restore_task

    trainer = train(tmp_path, "train.mixed_precision=True", "train.mixed_precision_dtype='bfloat16'",
                    "train.max_steps=20", "train.log_every=10")
    reported = json.loads((tmp_path / "metrics.json").read_text())
    task, step, _ = restore_task(trainer.params, tmp_path)  # float32, as export builds it
    assert step == 20 and task.compute_dtype == "float32"
    exported = evaluate(task, trainer.input, "test")
    assert reported["loss"] == pytest.approx(exported["loss"], rel=1e-6)
    assert reported["accuracy"] == exported["accuracy"]
    assert trainer.task.compute_dtype == "bfloat16"  # training itself stayed in bfloat16


def test_an_unknown_mixed_precision_dtype_is_refused_by_name(tmp_path):
    from liveri.errors import UsageError

    with pytest.raises(UsageError, match="train.mixed_precision_dtype.*float16 or bfloat16"):
        train(tmp_path, "train.mixed_precision=True", "train.mixed_precision_dtype='int4'")


def test_xla_steps_follow_the_same_losses_as_the_plain_ones(tmp_path):
    same = ["model.dropout.keep_prob=1.0", "train.max_steps=8"]
    train(tmp_path / "plain", *same)
    train(tmp_path / "xla", *same, "train.jit_compile=True")
    plain = [r["loss"] for r in log(tmp_path / "plain") if "loss" in r]
    xla = [r["loss"] for r in log(tmp_path / "xla") if "loss" in r]
    np.testing.assert_allclose(xla, plain, rtol=1e-3)
