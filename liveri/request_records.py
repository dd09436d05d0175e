"""Predict requests recorded as PredictionLog TFRecords: a version's warmup file and the server's
request logs (`logging_config`) share the format, so benchmarks, calibration and warmup read
real traffic through this one reader."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from pathlib import Path

import numpy as np

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


def request_inputs(paths: Sequence[str | Path]) -> dict[str, np.ndarray]:
    """The predict requests' inputs of PredictionLog files, joined along the batch axis:
    {input name: [N, ...]}. UsageError when a file is missing, holds no predict request, or its
    requests disagree on their inputs."""
    from tensorflow_serving.apis import prediction_log_pb2

    columns: dict[str, list[np.ndarray]] = {}
    for path in paths:
        if not Path(path).is_file():
            raise UsageError(f"{path} not found; expected a PredictionLog TFRecord file (a warmup "
                             "file or a request log)")
        for record in read_tfrecords(path):
            inputs = prediction_log_pb2.PredictionLog.FromString(record).predict_log.request.inputs
            if columns and set(inputs) != set(columns):
                raise UsageError(f"{path}: a request has inputs {sorted(inputs)}, others "
                                 f"{sorted(columns)}; expected requests of one signature")
            for name, proto in inputs.items():
                columns.setdefault(name, []).append(tf.make_ndarray(proto))
    if not columns:
        raise UsageError(f"{', '.join(map(str, paths))}: no predict requests; expected at least "
                         "one PredictionLog with a predict_log")
    try:
        return {name: np.concatenate(parts) for name, parts in columns.items()}
    except ValueError as e:
        raise UsageError(f"{', '.join(map(str, paths))}: requests whose inputs differ in shape "
                         f"beyond the batch ({e})") from None
