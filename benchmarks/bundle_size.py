"""The size a device download would have: the mobile bundle (zip) `liveri bundle` writes, of the
artifact it chooses (`liveri.mobile.choose`)."""

from __future__ import annotations

import json
import tempfile
import zipfile
from pathlib import Path

from liveri.mobile.bundler import make_bundle

from liveri.errors import UsageError


def bundle_bytes(model_repo: Path, name: str, version: int) -> tuple[int | None, str]:
    """Bytes of the bundle `liveri bundle` would write, and what it packs (or why none)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bundle.zip"
        try:
            make_bundle(model_repo, name, version, out=out)
        except UsageError as e:
            return None, f"no bundle could be made: {e}"
        chosen = json.loads(zipfile.ZipFile(out).read("bundle.json"))["chosen"]
        return out.stat().st_size, f"liveri bundle: {chosen['why']}"
