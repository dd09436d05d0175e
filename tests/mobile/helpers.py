"""Ways to damage a bundle as a flaky download or a tamperer would, and a clean process to
run one in."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def flip_byte_in_file(bundle: Path, out: Path, member: str) -> Path:
    """Flip one byte of `member`'s stored data in the zip file itself, as a bad download would."""
    with zipfile.ZipFile(bundle) as zf:
        info = zf.getinfo(member)
    blob = bytearray(bundle.read_bytes())
    # The local file header is 30 bytes, then the name and the extra field, then the data.
    name_len, extra_len = struct.unpack("<HH", blob[info.header_offset + 26:
                                                    info.header_offset + 30])
    data_start = info.header_offset + 30 + name_len + extra_len
    blob[data_start + info.compress_size // 2] ^= 0x01
    out.write_bytes(bytes(blob))
    return out


def repack_with_changed_byte(bundle: Path, out: Path, member: str) -> Path:
    """Rebuild the zip, comment and all, with one byte of `member` changed (CRCs fit again)."""
    return repack(bundle, out, member, lambda data: _flip_middle(data))


def repack(bundle: Path, out: Path, member: str, change: Callable[[bytes], bytes]) -> Path:
    """Rebuild the zip, comment and all, with `member`'s data changed by `change`."""
    with zipfile.ZipFile(bundle) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            dst.writestr(info, change(data) if info.filename == member else data)
        dst.comment = src.comment
    return out


def _flip_middle(data: bytes) -> bytes:
    changed = bytearray(data)
    changed[len(changed) // 2] ^= 0x01
    return bytes(changed)


def answers_without_tensorflow(script: str, bundle: Path, inputs: Path) -> list[Any]:
    """Run `script` (printing {"answers", "tensorflow_loaded"} as JSON) in a fresh interpreter
    on `bundle` and `inputs`, as a device would, and check TensorFlow never loaded there."""
    result = subprocess.run([sys.executable, "-c", script, str(bundle), str(inputs)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["tensorflow_loaded"] == []
    return report["answers"]
