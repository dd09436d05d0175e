"""The bad-input battery: each bad request gets its status, and the server answers as before."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import grpc
import numpy as np
import pytest
import tensorflow as tf
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import predict_pb2

from tests.serve.serve_helpers import digits_request, sample_pixels

NOT_FOUND = grpc.StatusCode.NOT_FOUND
INVALID = grpc.StatusCode.INVALID_ARGUMENT
EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED


def _renamed(request, name):
    request.model_spec.name = name
    return request


def _input_renamed():
    request = digits_request(sample_pixels(1))
    request.inputs["image"].CopyFrom(request.inputs.pop("pixels"))
    return request


def _huge_declared_batch():
    request = digits_request(sample_pixels(1))
    tensor = request.inputs["pixels"]
    tensor.Clear()
    tensor.dtype = types_pb2.DT_UINT8
    for size in (10**12, 8, 8):
        tensor.tensor_shape.dim.add().size = size
    tensor.int_val.append(1)  # one value, "broadcast" to 64 TB if the server trusted it
    return request


def _short_content():
    request = digits_request(sample_pixels(2))
    tensor = request.inputs["pixels"]
    tensor.tensor_content = tensor.tensor_content[:-1]
    return request


def _negative_dim():
    request = digits_request(sample_pixels(1))
    request.inputs["pixels"].tensor_shape.dim[0].size = -1
    return request


def _strings_for_pixels():
    request = digits_request(sample_pixels(1))
    request.inputs["pixels"].CopyFrom(tf.make_tensor_proto([b"a", b"b"]))
    return request


def _unknown_output():
    request = digits_request(sample_pixels(1))
    request.output_filter.append("nope")
    return request


BATTERY = [
    ("unknown model", lambda: _renamed(digits_request(sample_pixels(1)), "nope"), NOT_FOUND,
     "Servable not found for request: Latest(nope)"),
    ("unknown version", lambda: digits_request(sample_pixels(1), version=99), NOT_FOUND,
     "Servable not found for request: Specific(digits, 99)"),
    ("unknown signature", lambda: digits_request(sample_pixels(1), signature_name="nope"),
     INVALID, 'Serving signature key "nope" not found'),
    ("wrong input name", _input_renamed, INVALID, "image"),
    ("wrong dtype", lambda: digits_request(np.zeros((1, 8, 8), np.int32)), INVALID,
     "input 'pixels' has dtype DT_INT32 but signature 'serving_default' expects DT_UINT8"),
    ("wrong shape", lambda: digits_request(np.zeros((1, 64), np.uint8)), INVALID,
     "input 'pixels' has shape [1,64] but signature 'serving_default' expects [-1,8,8]"),
    ("wrong rank", lambda: digits_request(np.zeros((8, 8), np.uint8)), INVALID, "[-1,8,8]"),
    ("string for pixels", _strings_for_pixels, INVALID, "DT_UINT8"),
    ("empty request", predict_pb2.PredictRequest, INVALID, "Missing ModelSpec"),
    ("no inputs", lambda: _renamed(predict_pb2.PredictRequest(), "digits"), INVALID,
     "pixels (DT_UINT8 [-1,8,8])"),
    ("absurdly large batch", _huge_declared_batch, EXHAUSTED, "too large"),
    ("content shorter than shape", _short_content, INVALID, "tensor_content"),
    ("negative dimension", _negative_dim, INVALID, "fully defined shape"),
    ("unknown output", _unknown_output, INVALID, "output tensor alias not found"),
]


def _answer(stub):
    response = stub.Predict(digits_request(sample_pixels(6)), timeout=10)
    return {key: tf.make_ndarray(value).tolist() for key, value in response.outputs.items()}


def test_bad_request_battery_and_the_server_survives(server, channel, predict_stub):
    before = _answer(predict_stub)
    for case, build, code, fragment in BATTERY:
        with pytest.raises(grpc.RpcError) as caught:
            predict_stub.Predict(build(), timeout=10)
        assert caught.value.code() == code, (case, caught.value.details())
        assert fragment in caught.value.details(), (case, caught.value.details())

    # Bytes that are not a PredictRequest at all.
    raw = channel.unary_unary("/tensorflow.serving.PredictionService/Predict")
    with pytest.raises(grpc.RpcError) as caught:
        raw(b"\xff\xff\xff\xff garbage", timeout=10)
    assert caught.value.code() == INVALID
    assert "tensorflow.serving.PredictRequest" in caught.value.details()

    # The same over REST: bad JSON, wrong types, unknown model.
    url = f"http://127.0.0.1:{server.rest_port}/v1/models/"
    deep = b'{"instances": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    for path, body, status in (("digits:predict", b"{not json", 400),
                               ("digits:predict", deep, 400),
                               ("digits:predict", b'{"instances": "pixels"}', 400),
                               ("digits:predict", b'{"instances": [[["x"]]]}', 400),
                               ("nope:predict", b'{"instances": [1]}', 404)):
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(urllib.request.Request(url + path, data=body), timeout=10)
        assert caught.value.code == status, path
        assert "error" in json.loads(caught.value.read())

    assert _answer(predict_stub) == before
    metrics = server.metrics.text().decode()
    assert 'model="nope"' not in metrics and 'signature="nope"' not in metrics
    assert 'status="INVALID_ARGUMENT"' in metrics and 'status="NOT_FOUND"' in metrics
    health = health_pb2_grpc.HealthStub(channel)
    assert health.Check(health_pb2.HealthCheckRequest(service="digits"), timeout=10).status == \
        health_pb2.HealthCheckResponse.SERVING
