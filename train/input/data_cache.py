"""Where prepared data lives, and building it exactly once.

Data is derived from installed packages, then kept in a cache directory so every run (and every
worker) reads the same files. A build writes into a temporary directory beside the final one and
renames it into place, so a reader never sees half a build and a killed build leaves no trace.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

DATA_DIR_ENV = "LIVERI_DATA_DIR"
DEFAULT_DATA_DIR = "~/.cache/liveri/data"


def data_root(data_dir: str = "") -> Path:
    """The cache root: the `data_dir` param, else $LIVERI_DATA_DIR, else ~/.cache/liveri/data."""
    chosen = data_dir or os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR
    return Path(chosen).expanduser()


def cache_key(text: str) -> str:
    """A short, stable name for the settings that determine a build."""
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def build_once(final_dir: Path, build: Callable[[Path], None]) -> bool:
    """Run `build(tmp_dir)` and move its output to `final_dir`, unless that already exists.

    Returns True when this call built the data. When two processes race, the first rename wins
    and the other's copy is discarded, so readers always see one complete build.
    """
    if final_dir.is_dir():
        return False
    final_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final_dir.name}.partial-", dir=final_dir.parent))
    try:
        build(tmp)
        try:
            os.rename(tmp, final_dir)
        except OSError:
            if not final_dir.is_dir():
                raise
            return False
        return True
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
