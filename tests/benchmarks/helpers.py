"""What the benchmark tests share: names, generous budgets, and the CLI run in this process."""

from __future__ import annotations

from pathlib import Path

from liveri.cli.main import main as liveri_main

MODEL = "image_digits"
EXPERIMENT = "image.Digits"
GENEROUS = ["release.latency_p99_ms=1000", "release.min_metric=0.5",
            "release.max_int8_metric_drop=0.5", "release.max_bundle_bytes=100000000",
            "release.min_server_qps=1"]


def run_liveri(*argv: str) -> int:
    """The `liveri` CLI in this process (TensorFlow stays loaded between calls)."""
    return liveri_main(list(argv))


def release_args(logdir: Path, repo: Path, *budgets: str) -> list[str]:
    sets = [x for item in budgets for x in ("--set", item)]
    return ["release", "-e", EXPERIMENT, "--logdir", str(logdir), "--model_repo", str(repo),
            "--quick", *sets]
