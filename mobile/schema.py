"""The bundle's table of contents (`bundle.json`): the one place its names and layout are defined.

The bundler writes it and the runner reads it; a device port reads it too, so every key is plain
JSON and says what the device must do (see `describe` in the bundler for the full shape).
"""

from __future__ import annotations

import hashlib
from typing import Any

from liveri.artifact import manifest

SCHEMA = "liveri.bundle/1"
BUNDLE_JSON = "bundle.json"
MODEL_FILE = "model.tflite"
# Manifest keys naming side files (labels, vocab) that the post- or pre-processing reads.
SIDE_FILE_KEYS = manifest.SIDE_FILE_KEYS
# The raw input each preprocessing kind starts from (log-mels are computed from audio samples).
RAW_INPUT_KIND = {"image": "image", "text": "text", "log_mel": "audio"}


# bundle.json cannot hold its own checksum, so the zip's comment does.
_COMMENT_PREFIX = "liveri.bundle bundle.json sha256="


def zip_comment(bundle_json: bytes) -> bytes:
    """The zip comment that lets the runner refuse a changed `bundle.json`."""
    return f"{_COMMENT_PREFIX}{hashlib.sha256(bundle_json).hexdigest()}".encode()


def bundle_json_sha256(comment: bytes) -> str | None:
    """The sha256 of `bundle.json` recorded in the zip comment (None: not recorded)."""
    text = comment.decode("ascii", errors="replace")
    return text[len(_COMMENT_PREFIX):] if text.startswith(_COMMENT_PREFIX) else None


def file_entry(path: str, data: bytes) -> dict[str, Any]:
    """What `bundle.json` records of a file so the runner can refuse a changed one."""
    return {"path": path, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
