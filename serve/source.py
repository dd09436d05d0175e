"""Source: finds a model's versions on disk and says which of them should be served.

TF Serving's layout: BASE_PATH/VERSION/ with VERSION any all-digit folder name (`00000123` is 123).
Anything else in BASE_PATH (a `.tmp-*` folder still being written, stray files) is ignored, and so
is a version folder that does not yet hold a SavedModel.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class VersionPolicy:
    """Which of the versions on disk to serve: the newest `num_versions`, all, or specific ones."""

    kind: str = "latest"  # "latest" | "all" | "specific"
    num_versions: int = 1
    versions: tuple[int, ...] = ()

    def select(self, available: list[int]) -> list[int]:
        ordered = sorted(available)
        if self.kind == "all":
            return ordered
        if self.kind == "specific":
            return [v for v in ordered if v in self.versions]
        return ordered[-max(self.num_versions, 1):]


@dataclass(frozen=True)
class ModelSpec:
    """One served model: its name, where its versions live, the policy and version labels,
    and its request log's settings (a `request_log.LogSettings`, or None)."""

    name: str
    base_path: str
    policy: VersionPolicy = VersionPolicy()
    version_labels: dict[str, int] = field(default_factory=dict, hash=False)
    platform: str = "tensorflow"
    logging: Any = None


# A folder holding one of these is a version (model.tflite: TF Serving's TFLite layout).
VERSION_FILES = ("saved_model.pb", "saved_model.pbtxt", "model.tflite")


def version_folders(base_path: str) -> dict[int, str]:
    """Every loadable version under `base_path`: version number -> folder path."""
    try:
        entries = list(os.scandir(base_path))
    except OSError:
        return {}
    found: dict[int, str] = {}
    for entry in entries:
        if not (entry.name.isdigit() and entry.name.isascii()) or not entry.is_dir():
            continue
        if not any(os.path.exists(os.path.join(entry.path, name)) for name in VERSION_FILES):
            continue
        version = int(entry.name)
        # Two spellings of one number (1 and 001): keep the lexically last, deterministically.
        if version not in found or entry.path > found[version]:
            found[version] = entry.path
    return found


def aspired_versions(spec: ModelSpec) -> dict[int, str]:
    """The versions of `spec` that should be served now, by its policy."""
    folders = version_folders(spec.base_path)
    return {v: folders[v] for v in spec.policy.select(list(folders))}


def repo_specs(model_repo: str) -> list[ModelSpec]:
    """One spec per model folder of a Liveri model repository (every sub-folder with versions)."""
    specs = []
    try:
        entries = sorted(os.scandir(model_repo), key=lambda e: e.name)
    except OSError:
        return []
    for entry in entries:
        if entry.is_dir() and not entry.name.startswith(".") and version_folders(entry.path):
            specs.append(ModelSpec(entry.name, entry.path))
    return specs
