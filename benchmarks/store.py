"""A version's own bench results (`liveri/bench/`), and whether they still describe it.

`liveri bench` leaves a copy there so `liveri release` can reuse it instead of measuring again;
a copy is stale once any artifact changed, it belongs to another version, it came from another
machine, or it is too old.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
from pathlib import Path
from typing import Any

from liveri import layout
from liveri.artifact.manifest import Manifest

BENCH_DIR = layout.BENCH_DIR
BENCH_FILE = layout.BENCH_FILE
MAX_AGE = datetime.timedelta(days=7)


def host() -> dict[str, Any]:
    """The machine the figures belong to: latency from another machine means nothing here."""
    return {"node": platform.node(), "machine": platform.machine(), "cpus": os.cpu_count(),
            "python": platform.python_version()}


def artifact_checksums(manifest: Manifest) -> dict[str, str]:
    return {a.format: a.sha256 for a in manifest.artifacts}


def stored_bench_path(version_dir: str | Path) -> Path:
    return Path(version_dir) / BENCH_DIR / BENCH_FILE


def fresh_bench(version_dir: str | Path, manifest: Manifest) -> dict[str, Any] | None:
    """The version's stored bench when it still describes these artifacts on this machine."""
    path = stored_bench_path(version_dir)
    if not path.exists():
        return None
    try:
        bench = json.loads(path.read_text())
        created = datetime.datetime.fromisoformat(bench["created"])
    except (ValueError, KeyError):
        return None
    age = datetime.datetime.now(datetime.timezone.utc) - created
    if (bench.get("version") != manifest.version
            or bench.get("artifact_sha256") != artifact_checksums(manifest)
            or bench.get("host", {}).get("node") != host()["node"] or age > MAX_AGE):
        return None
    return bench
