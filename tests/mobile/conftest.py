"""Mobile fixtures: TFLite exports of the session's image.Digits training, and bundles of them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from liveri.mobile.bundler import make_bundle

from tests.conftest import liveri

MODEL = "image_digits"


@pytest.fixture(scope="session")
def mobile_repo(digits_logdir: Path, tmp_path_factory) -> Path:
    """A model repository with image_digits version 1: SavedModel, tflite_float and tflite_int8."""
    repo = tmp_path_factory.mktemp("mobile_repo")
    liveri("export", "-e", "image.Digits", "--logdir", str(digits_logdir), "--model_repo",
           str(repo), "--formats", "tflite_float,tflite_int8")
    return repo


@pytest.fixture(scope="session")
def int8_bundle(mobile_repo: Path, tmp_path_factory) -> Path:
    return make_bundle(mobile_repo, MODEL, out=tmp_path_factory.mktemp("bundles") / "int8.zip")


@pytest.fixture(scope="session")
def float_bundle(mobile_repo: Path, tmp_path_factory) -> Path:
    return make_bundle(mobile_repo, MODEL, fmt="tflite_float",
                       out=tmp_path_factory.mktemp("bundles") / "float.zip")


@pytest.fixture(scope="session")
def digits_test() -> dict[str, np.ndarray]:
    """The held-out split the model never trained on: {"pixels": uint8 [N, 8, 8], "label": [N]}."""
    from liveri.train.input.digits import DigitsInput

    return DigitsInput(DigitsInput.Params()).Examples("test")
