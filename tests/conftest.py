"""Session fixtures: one short real training and export of image.Digits shared by the tests."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def liveri(*args: str, check: bool = True, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run the `liveri` CLI as a user would, in a fresh process."""
    result = subprocess.run([sys.executable, "-m", "liveri.cli", *args], capture_output=True,
                            text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"liveri {' '.join(args)} exited {result.returncode}:\n"
                             f"{result.stderr[-3000:]}")
    return result


@pytest.fixture(scope="session")
def digits_logdir(tmp_path_factory) -> Path:
    """image.Digits trained for 300 steps (about 10 s)."""
    logdir = tmp_path_factory.mktemp("digits") / "logs"
    liveri("train", "-e", "image.Digits", "--logdir", str(logdir), "--set",
           "train.max_steps=300")
    return logdir


@pytest.fixture(scope="session")
def digits_repo(digits_logdir, tmp_path_factory) -> Path:
    """A model repository holding image_digits version 1 with every artifact."""
    repo = tmp_path_factory.mktemp("repo")
    liveri("export", "-e", "image.Digits", "--logdir", str(digits_logdir), "--model_repo",
           str(repo))
    return repo


@pytest.fixture(scope="session")
def vae_logdir(tmp_path_factory) -> Path:
    """image.DigitsVae trained for 600 steps (about 20 s)."""
    logdir = tmp_path_factory.mktemp("vae")
    liveri("train", "-e", "image.DigitsVae", "--logdir", str(logdir),
           "--set", "train.max_steps=600", "--set", "model.kl_warmup_steps=200")
    return logdir


@pytest.fixture(scope="session")
def gan_logdir(tmp_path_factory) -> Path:
    """image.DigitsGan trained for 1,500 steps (about 40 s)."""
    logdir = tmp_path_factory.mktemp("gan")
    liveri("train", "-e", "image.DigitsGan", "--logdir", str(logdir),
           "--set", "train.max_steps=1500", "--set", "train.eval_every=250")
    return logdir
