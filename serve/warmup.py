"""Warmup: replay a version's recorded requests before it serves, so first real requests are fast.

TF Serving's format: `assets.extra/tf_serving_warmup_requests`, a TFRecord file of PredictionLog
protos. Any failing record fails the load, as in TF Serving: a model that cannot answer its own
warmup must not be swapped in.
"""

from __future__ import annotations

import os

from liveri.serve import inference
from liveri.serve.errors import invalid
from liveri.serve.loader import Servable
from tensorflow_serving.apis import prediction_log_pb2

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
MAX_WARMUP_RECORDS = 1000


def warmup_path(version_path: str) -> str:
    return os.path.join(version_path, WARMUP_FILE)


def read_warmup_records(version_path: str) -> list[prediction_log_pb2.PredictionLog]:
    """The recorded PredictionLogs of a version (none when it has no warmup file)."""
    path = warmup_path(version_path)
    if not os.path.exists(path):
        return []
    import tensorflow as tf

    logs = []
    for record in tf.data.TFRecordDataset(path).take(MAX_WARMUP_RECORDS + 1).as_numpy_iterator():
        if len(logs) == MAX_WARMUP_RECORDS:
            raise invalid(f"Number of warmup records exceeds the maximum ({MAX_WARMUP_RECORDS}) "
                          f"in {path}")
        log = prediction_log_pb2.PredictionLog()
        log.ParseFromString(record)
        logs.append(log)
    return logs


def run_warmup(servable: Servable) -> int:
    """Replay every warmup record against `servable`; returns how many ran."""
    logs = read_warmup_records(servable.path)
    for log in logs:
        kind = log.WhichOneof("log_type")
        if kind == "predict_log":
            inference.predict(servable, log.predict_log.request)
        elif kind == "classify_log":
            inference.classify(servable, log.classify_log.request)
        elif kind == "regress_log":
            inference.regress(servable, log.regress_log.request)
        elif kind == "multi_inference_log":
            inference.multi_inference(servable, log.multi_inference_log.request)
        else:
            raise invalid(f"Unsupported log_type for warmup: {kind}")
    return len(logs)
