"""Benchmark fixtures: a private copy of the session's exported image.Digits, benched once."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.benchmarks.helpers import MODEL, run_liveri


@pytest.fixture(scope="session")
def benched(digits_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """`liveri bench --quick` run once on a copy of version 1: the repo and the output folder."""
    repo = tmp_path_factory.mktemp("bench_repo") / "models"
    shutil.copytree(digits_repo, repo)
    out = tmp_path_factory.mktemp("bench_out")
    assert run_liveri("bench", "--model_repo", str(repo), "--name", MODEL, "--quick",
                      "--out", str(out)) == 0
    return {"repo": repo, "out": out}


@pytest.fixture
def release_repo(benched: dict[str, Path], tmp_path: Path) -> Path:
    """A fresh copy of the benched repo for one test (each test records its own verdicts)."""
    repo = tmp_path / "models"
    shutil.copytree(benched["repo"], repo)
    return repo
