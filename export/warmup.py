"""`assets.extra/tf_serving_warmup_requests`: real requests TF Serving replays at load time."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from liveri.lazy import tf


def write_warmup(version_dir: Path, model_name: str, inputs: dict[str, np.ndarray],
                 signature: str = "serving_default", batch: int = 1) -> None:
    """One PredictLog per `batch` examples (a signature of fixed batch takes that many) of
    `signature`'s inputs, in TF Serving's TFRecord format."""
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    path = version_dir / "assets.extra" / "tf_serving_warmup_requests"
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for i in range(0, len(next(iter(inputs.values()))), batch):
            request = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(name=model_name, signature_name=signature)
            )
            for input_name, values in inputs.items():
                request.inputs[input_name].CopyFrom(tf.make_tensor_proto(values[i:i + batch]))
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request)
            )
            writer.write(log.SerializeToString())
