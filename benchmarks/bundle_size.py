"""The size a device download would have: the mobile bundle (zip) of the int8 TFLite model."""

from __future__ import annotations

import tempfile
from pathlib import Path

from liveri.artifact import formats
from liveri.artifact.manifest import Manifest
from liveri.errors import UsageError

BUNDLE_FORMAT = "tflite_int8"


def bundle_bytes(model_repo: Path, name: str, version: int, manifest: Manifest
                 ) -> tuple[int | None, str]:
    """Bytes of the bundle `liveri bundle` would write, and how they were obtained."""
    try:
        from liveri.mobile.bundler import make_bundle
    except ImportError:
        return _parts_bytes(model_repo / name / str(version), manifest)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bundle.zip"
        try:
            make_bundle(model_repo, name, version, BUNDLE_FORMAT, out=out)
        except (UsageError, KeyError, ValueError) as e:
            return None, f"the {BUNDLE_FORMAT} bundle could not be made: {e}"
        return out.stat().st_size, f"liveri.mobile.bundler.make_bundle(format={BUNDLE_FORMAT})"


def _parts_bytes(version_dir: Path, manifest: Manifest) -> tuple[int | None, str]:
    """Without the bundler: the int8 model plus its labels file, an estimate of the zip."""
    model = version_dir / formats.get(BUNDLE_FORMAT).file
    if not model.exists():
        return None, f"no {BUNDLE_FORMAT} artifact to bundle"
    labels = version_dir / (manifest.labels_file or "")
    size = model.stat().st_size + (labels.stat().st_size if labels.is_file() else 0)
    return size, "liveri.mobile.bundler is not available: int8 .tflite + labels file, unzipped"
