"""Finding a model's version folder (and its manifest) in a model repository."""

from __future__ import annotations

from pathlib import Path

from liveri import layout
from liveri.artifact import manifest
from liveri.errors import UsageError


def version_dir(model_repo: str | Path, name: str, version: int | None = None) -> Path:
    """REPO/MODEL/VERSION for `version`, or the newest one; a clear error when there is none."""
    model_dir = Path(model_repo) / name
    found = layout.versions(model_dir)
    if not found:
        raise UsageError(f"no versions of model {name!r} under {model_repo}; expected "
                         f"{model_dir}/VERSION/ written by `liveri export`")
    if version is None:
        return found[max(found)]
    if version not in found:
        raise UsageError(f"--version {version}: model {name!r} has versions "
                         f"{', '.join(map(str, found))}")
    return found[version]


def read_manifest(path: Path) -> manifest.Manifest:
    try:
        return manifest.load(path)
    except manifest.ManifestError as e:
        raise UsageError(str(e)) from None
