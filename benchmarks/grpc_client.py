"""The stock TF Serving client (prediction_service_pb2_grpc) aimed at one model's signature.

Requests are built once per batch size from the version's real warmup inputs; each call still
pays serialization, as any client does.
"""

from __future__ import annotations

from typing import Any

import grpc
import numpy as np

from liveri.lazy import tf

MAX_MESSAGE_BYTES = 64 << 20


class PredictClient:
    """Predict calls on one channel: blocking for closed loops, futures for open loops."""

    def __init__(self, target: str, model: str, version: int | None = None,
                 signature: str = "serving_default", timeout_s: float = 30.0) -> None:
        from tensorflow_serving.apis import prediction_service_pb2_grpc

        self.target = target
        self.model = model
        self.version = version
        self.signature = signature
        self.timeout_s = timeout_s
        self.channel = grpc.insecure_channel(target, options=[
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ])
        self.stub = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)

    def wait_ready(self, timeout_s: float = 30.0) -> None:
        grpc.channel_ready_future(self.channel).result(timeout=timeout_s)

    def request(self, inputs: dict[str, np.ndarray]) -> Any:
        """A PredictRequest for this model, version and signature."""
        from tensorflow_serving.apis import predict_pb2

        request = predict_pb2.PredictRequest()
        request.model_spec.name = self.model
        request.model_spec.signature_name = self.signature
        if self.version is not None:
            request.model_spec.version.value = self.version
        for name, value in inputs.items():
            request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
        return request

    def predict(self, request: Any) -> Any:
        return self.stub.Predict(request, timeout=self.timeout_s)

    def predict_future(self, request: Any) -> grpc.Future:
        return self.stub.Predict.future(request, timeout=self.timeout_s)

    def close(self) -> None:
        self.channel.close()
