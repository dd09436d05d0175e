"""The manifest of an exported version (`liveri/manifest.json`): provenance and checksums.

Read by export (writes it), serve, mobile, benchmarks and the release gate.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from liveri import layout
from liveri.fileio import atomic_write_json


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read(version_dir: str | Path) -> dict[str, Any]:
    path = Path(version_dir) / layout.MANIFEST_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} not found; expected a version written by `liveri export`")
    return json.loads(path.read_text())


def write(version_dir: str | Path, manifest: dict[str, Any]) -> None:
    atomic_write_json(Path(version_dir) / layout.MANIFEST_FILE, manifest)


def artifact(manifest: dict[str, Any], fmt: str) -> dict[str, Any]:
    for item in manifest["artifacts"]:
        if item["format"] == fmt:
            return item
    have = ", ".join(a["format"] for a in manifest["artifacts"])
    raise KeyError(f"format {fmt!r} is not in this version (it has: {have})")


def verify(version_dir: str | Path) -> list[str]:
    """Problems found recomputing every checksum the manifest lists (empty: all good)."""
    version_dir = Path(version_dir)
    manifest = read(version_dir)
    problems = []
    for entry in manifest.get("files", []):
        path = version_dir / entry["path"]
        if not path.exists():
            problems.append(f"{entry['path']}: missing")
        elif path.stat().st_size != entry["bytes"] or sha256_file(path) != entry["sha256"]:
            problems.append(f"{entry['path']}: checksum mismatch (file changed)")
    return problems
