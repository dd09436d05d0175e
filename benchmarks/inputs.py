"""Real inputs for every benchmark: the version's own warmup requests, tiled to a batch size.

The warmup file holds requests the exporter took from the eval data, so every runtime (and the
server) is timed on examples the model was built for, with no dataset-specific code here.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from liveri import layout
from liveri.errors import UsageError
from liveri.lazy import tf


def read_tfrecords(path: str | Path) -> list[bytes]:
    """Records of a TFRecord file (length, crc, data, crc), without the tf.data machinery."""
    data = Path(path).read_bytes()
    records, pos = [], 0
    while pos + 12 <= len(data):
        (length,) = struct.unpack_from("<Q", data, pos)
        start = pos + 12
        records.append(data[start:start + length])
        pos = start + length + 4
    return records


def warmup_examples(version_dir: str | Path) -> dict[str, np.ndarray]:
    """The warmup requests' inputs, joined along the batch axis: {input name: [N, ...]}."""
    from tensorflow_serving.apis import prediction_log_pb2

    path = Path(version_dir) / layout.WARMUP_FILE
    if not path.exists():
        raise UsageError(f"{path} not found; benchmarks take their inputs from the version's "
                         "warmup requests (written by `liveri export`)")
    columns: dict[str, list[np.ndarray]] = {}
    for record in read_tfrecords(path):
        log = prediction_log_pb2.PredictionLog.FromString(record)
        for name, proto in log.predict_log.request.inputs.items():
            columns.setdefault(name, []).append(tf.make_ndarray(proto))
    if not columns:
        raise UsageError(f"{path} holds no predict requests; expected at least one")
    return {name: np.concatenate(parts) for name, parts in columns.items()}


def tile_batch(examples: dict[str, np.ndarray], batch_size: int) -> dict[str, np.ndarray]:
    """A batch of `batch_size` examples, repeating the real ones as often as needed."""
    out = {}
    for name, values in examples.items():
        reps = -(-batch_size // len(values))
        out[name] = np.concatenate([values] * reps)[:batch_size]
    return out
