"""New versions for release tests: an identical rebuild, and a deliberately slower one.

The slower one gives the same answers from a SavedModel that does extra work: real computation
in the graph (a loop of matrix products that depends on the input, so it cannot be folded away),
so any slowdown the gate sees is measured, not faked.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import tensorflow as tf

SIGNATURE = "serving_default"


class _Slower(tf.Module):
    def __init__(self, inner: tf.Module, rounds: int) -> None:
        super().__init__()
        self.inner = inner
        self.rounds = rounds
        self.weights = tf.Variable(tf.random.stateless_normal([160, 160], seed=[1, 2]) * 0.01)
        spec = inner.signatures[SIGNATURE].structured_input_signature[1]
        self.serve = tf.function(self._serve, input_signature=[spec["pixels"]])

    def _serve(self, pixels: tf.Tensor) -> dict[str, tf.Tensor]:
        answer = self.inner.signatures[SIGNATURE](pixels=pixels)
        seed = tf.cast(tf.reduce_max(pixels), tf.float32) * 1e-6

        def body(i: tf.Tensor, x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            return i + 1, tf.tanh(tf.matmul(x, self.weights))

        x0 = tf.ones([160, 160]) * seed
        _, x = tf.while_loop(lambda i, _: i < self.rounds, body, (tf.constant(0), x0))
        answer = dict(answer)
        answer["scores"] = answer["scores"] + 0.0 * tf.reduce_sum(x)
        return answer


def copy_version(version_dir: Path) -> Path:
    """The same build as the next version: identical artifacts, no bench, gate pending."""
    return _next_version(version_dir, lambda staging: shutil.copytree(
        version_dir, staging, ignore=shutil.ignore_patterns("bench", "release_report.*")))


def make_slower_version(version_dir: Path, rounds: int = 40) -> Path:
    """The next version with a slower SavedModel (`rounds` extra matmuls per call)."""

    def build(staging: Path) -> None:
        shutil.copytree(version_dir / "liveri", staging / "liveri",
                        ignore=shutil.ignore_patterns("bench", "release_report.*"))
        shutil.copytree(version_dir / "assets.extra", staging / "assets.extra")
        module = _Slower(tf.saved_model.load(str(version_dir)), rounds)
        tf.saved_model.save(module, str(staging), signatures={SIGNATURE: module.serve})

    return _next_version(version_dir, build)


def _next_version(version_dir: Path, build: Callable[[Path], None]) -> Path:
    model_dir = version_dir.parent
    new_version = max(int(p.name) for p in model_dir.iterdir() if p.name.isdigit()) + 1
    staging = model_dir / f".tmp-test-{new_version}"
    build(staging)
    manifest_path = staging / "liveri" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["version"] = new_version
    manifest["gate"] = {"verdict": "pending"}
    for item in manifest["artifacts"]:
        path = staging / item["path"]
        item["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
        item["bytes"] = path.stat().st_size
    manifest_path.write_text(json.dumps(manifest, indent=2))
    target = model_dir / str(new_version)
    staging.rename(target)
    return target
