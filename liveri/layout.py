"""On-disk names every stage agrees on (see CONTRACT.md): log directory and model repository."""

from __future__ import annotations

import re
from pathlib import Path

# Log directory (`--logdir`).
PARAMS_FILE = "params.txt"
CHECKPOINTS_DIR = "checkpoints"
BEST_CHECKPOINT_DIR = "checkpoints/best"
SUMMARIES_DIR = "summaries"
METRICS_FILE = "metrics.json"
TRAIN_LOG_FILE = "train_log.jsonl"

# Model repository (`--model_repo`): REPO/MODEL/VERSION/...
LIVERI_DIR = "liveri"
MANIFEST_FILE = "liveri/manifest.json"
PARITY_FILE = "liveri/parity.json"
BENCH_DIR = "liveri/bench"  # the version's own copy of its latest `liveri bench`
BENCH_FILE = "bench.json"
VERSION_PARAMS_FILE = "liveri/params.txt"
WARMUP_FILE = "assets.extra/tf_serving_warmup_requests"
# Artifact files: `liveri.artifact.formats`.
TEMP_PREFIX = ".tmp-"

_VERSION_RE = re.compile(r"^\d+$")


def default_model_name(experiment: str) -> str:
    """`image.Digits` -> `image_digits`: the model's folder name in a model repository."""
    return experiment.lower().replace(".", "_")


def versions(model_dir: str | Path) -> dict[int, Path]:
    """Numbered version folders of a model (`00000123` is version 123), by version."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        return {}
    found = {}
    for child in model_dir.iterdir():
        if child.is_dir() and _VERSION_RE.match(child.name) and int(child.name) > 0:
            found[int(child.name)] = child
    return dict(sorted(found.items()))


def latest_version(model_dir: str | Path) -> int | None:
    found = versions(model_dir)
    return max(found) if found else None
