"""`liveri train` / `liveri eval` as a user runs them."""

import json
import shutil
import signal
import subprocess
import sys
import time

from tests.conftest import liveri


def test_train_leaves_params_checkpoints_summaries_metrics(digits_logdir):
    assert (digits_logdir / "params.txt").read_text().count("train.max_steps : 300") == 1
    assert (digits_logdir / "checkpoints" / "ckpt-300.index").exists()
    assert list((digits_logdir / "summaries" / "train").glob("events.out.tfevents.*"))
    assert list((digits_logdir / "summaries" / "eval").glob("events.out.tfevents.*"))
    metrics = json.loads((digits_logdir / "metrics.json").read_text())
    assert metrics["step"] == 300 and metrics["accuracy"] > 0.9


def test_eval_writes_accuracy(digits_logdir, tmp_path):
    logdir = tmp_path / "logs"
    shutil.copytree(digits_logdir, logdir)
    (logdir / "metrics.json").unlink()
    r = liveri("eval", "-e", "image.Digits", "--logdir", str(logdir))
    metrics = json.loads((logdir / "metrics.json").read_text())
    assert metrics["step"] == 300 and 0.9 < metrics["accuracy"] <= 1.0
    assert json.loads(r.stdout)["accuracy"] == metrics["accuracy"]


def test_resume_ends_at_exactly_max_steps(digits_logdir, tmp_path):
    logdir = tmp_path / "logs"
    shutil.copytree(digits_logdir, logdir)
    r = liveri("train", "-e", "image.Digits", "--logdir", str(logdir), "--set",
               "train.max_steps=350")
    assert "resuming from step 300" in r.stdout
    assert json.loads((logdir / "metrics.json").read_text())["step"] == 350
    assert (logdir / "checkpoints" / "ckpt-350.index").exists()


def test_resume_with_a_different_model_is_refused_with_the_diff(digits_logdir, tmp_path):
    logdir = tmp_path / "logs"
    shutil.copytree(digits_logdir, logdir)
    r = liveri("train", "-e", "image.Digits", "--logdir", str(logdir), "--set",
               "model.hidden_dims=32", check=False)
    assert r.returncode == 2 and "model.hidden_dims : 128 (logdir) -> 32 (now)" in r.stderr


def test_sigkill_after_first_checkpoint_resumes_to_exact_step(tmp_path):
    logdir = tmp_path / "logs"
    proc = subprocess.Popen(
        [sys.executable, "-m", "liveri.cli", "train", "-e", "image.Digits", "--logdir", str(logdir),
         "--set", "train.max_steps=100000", "--set", "train.checkpoint_every=50",
         "--set", "train.log_every=25"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not list((logdir / "checkpoints").glob("ckpt-*.index")) and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert list((logdir / "checkpoints").glob("ckpt-*.index")), "no checkpoint within 120 s"
    liveri("train", "-e", "image.Digits", "--logdir", str(logdir), "--set",
           "train.max_steps=420", "--set", "train.checkpoint_every=50", "--set",
           "train.log_every=25")
    assert json.loads((logdir / "metrics.json").read_text())["step"] == 420


def test_eval_of_missing_checkpoint_exits_2(digits_logdir):
    r = liveri("eval", "-e", "image.Digits", "--logdir", str(digits_logdir), "--checkpoint",
               str(digits_logdir / "checkpoints" / "ckpt-7"), check=False)
    assert r.returncode == 2 and "ckpt-7" in r.stderr and "does not exist" in r.stderr


def test_unwritable_logdir_exits_2(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    r = liveri("train", "-e", "image.Digits", "--logdir", str(blocker / "logs"), "--set",
               "train.max_steps=1", check=False)
    assert r.returncode == 2 and "--logdir" in r.stderr


def test_wrongly_typed_value_exits_2(tmp_path):
    r = liveri("train", "-e", "image.Digits", "--logdir", str(tmp_path), "--set",
               "train.learning_rate=fast", check=False)
    assert r.returncode == 2 and "train.learning_rate" in r.stderr and "float" in r.stderr


def test_default_digits_training_reaches_97_percent(tmp_path):
    liveri("train", "-e", "image.Digits", "--logdir", str(tmp_path))
    assert json.loads((tmp_path / "metrics.json").read_text())["accuracy"] >= 0.97
