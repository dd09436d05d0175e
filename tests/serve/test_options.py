"""Less common TF Serving options: single-model form, Unix socket, monitoring config, TFLite,
and warmup gating a version's load."""

from __future__ import annotations

import os
import urllib.request

import grpc
import numpy as np
import pytest
import tensorflow as tf
from liveri.serve.loader import load_saved_model
from liveri.serve.server import ModelServer
from liveri.serve.warmup import run_warmup
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from liveri.errors import UsageError
from tests.serve.serve_helpers import (
    digits_reference,
    digits_request,
    install,
    sample_pixels,
    serving_default_of,
    write_warmup,
)


def _classes(stub, pixels):
    return tf.make_ndarray(stub.Predict(digits_request(pixels), timeout=10)
                           .outputs["classes"]).tolist()


def test_single_model_form_unix_socket_and_monitoring_config(tmp_path, built_models):
    base = install(built_models["digits"], str(tmp_path / "repo"), "whatever", 1)
    monitoring = tmp_path / "monitoring.config"
    monitoring.write_text('prometheus_config { enable: true, path: "/monitoring/prometheus/metrics" }')
    socket_path = str(tmp_path / "grpc.sock")
    with ModelServer(model_name="digits", model_base_path=os.path.dirname(base), port=0,
                     rest_api_port=0, metrics_port=None, grpc_socket_path=socket_path,
                     monitoring_config_file=str(monitoring)) as server:
        pixels = sample_pixels(2)
        for target in (f"127.0.0.1:{server.grpc_port}", f"unix:{socket_path}"):
            stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(target))
            assert _classes(stub, pixels) == digits_reference(0, pixels).tolist()
        text = urllib.request.urlopen(
            f"http://127.0.0.1:{server.rest_port}/monitoring/prometheus/metrics",
            timeout=10).read().decode()
        assert 'liveri_serve_requests_total{method="predict",model="digits"' in text
        assert server.metrics_port is None


def test_prefer_tflite_model_serves_the_tflite_file(tmp_path, built_models):
    version = install(built_models["digits"], str(tmp_path / "repo"), "digits", 1)
    converter = tf.lite.TFLiteConverter.from_saved_model(version)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    (tmp_path / "repo" / "digits" / "1" / "model.tflite").write_bytes(converter.convert())
    with ModelServer(model_repo=str(tmp_path / "repo"), port=0, rest_api_port=None,
                     metrics_port=None, prefer_tflite_model=True) as server:
        with server.manager.handle("digits") as servable:
            assert servable.platform == "tflite"
        stub = prediction_service_pb2_grpc.PredictionServiceStub(
            grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}"))
        pixels = sample_pixels(4)
        assert _classes(stub, pixels) == digits_reference(0, pixels).tolist()
        with pytest.raises(grpc.RpcError) as caught:
            stub.Predict(digits_request(np.zeros((1, 8, 8), np.float32)), timeout=10)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_warmup_replays_records_and_a_failing_record_blocks_the_load(tmp_path, built_models):
    good = install(built_models["digits"], str(tmp_path / "repo"), "digits", 1)
    assert run_warmup(load_saved_model("digits", 1, good)) == 1
    bad = install(built_models["digits"], str(tmp_path / "bad"), "digits", 1)
    request = predict_pb2.PredictRequest()
    request.inputs["pixels"].CopyFrom(tf.make_tensor_proto(np.zeros((1, 3), np.float32)))
    write_warmup(bad, [request])
    with pytest.raises(UsageError, match="digits version 1: input 'pixels'"):
        ModelServer(model_repo=str(tmp_path / "bad"), port=0, rest_api_port=None,
                    metrics_port=None).start()


def test_grpc_channel_arguments_reach_the_server(tmp_path, built_models):
    repo = str(tmp_path / "repo")
    install(built_models["digits"], repo, "digits", 1)
    with ModelServer(model_repo=repo, port=0, rest_api_port=None, metrics_port=None,
                     grpc_channel_arguments="grpc.max_receive_message_length=2000") as server:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(
            grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}"))
        small = sample_pixels(2)
        assert _classes(stub, small) == digits_reference(0, small).tolist()
        with pytest.raises(grpc.RpcError) as refused:  # 64 images of 64 bytes: over 2000
            stub.Predict(digits_request(sample_pixels(64)), timeout=10)
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert _classes(stub, small) == digits_reference(0, small).tolist()
    with pytest.raises(UsageError, match="grpc_channel_arguments"):
        ModelServer(model_repo=repo, grpc_channel_arguments="no_equals_sign")


def _half_plus_two_tflite(with_signature: bool) -> bytes:
    """y = 0.5 x + 2 as a .tflite file, with a SignatureDef or (as TF Serving's testdata
    saved_model_half_plus_two_tflite) without one."""
    from tensorflow.lite.tools import flatbuffer_utils

    module = tf.Module()
    module.f = tf.function(lambda x: {"y": 0.5 * x + 2.0},
                           input_signature=[tf.TensorSpec([None, 1], tf.float32, name="x")])
    content = tf.lite.TFLiteConverter.from_concrete_functions(
        [module.f.get_concrete_function()], module).convert()
    if with_signature:
        return content
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    model.signatureDefs = []
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


@pytest.mark.parametrize("with_signature", [True, False])
def test_a_version_of_only_model_tflite_serves_predict_and_metadata(tmp_path, with_signature):
    """TF Serving's TFLite layout: MODEL/VERSION/model.tflite and no SavedModel."""
    from tensorflow_serving.apis import predict_pb2

    version = tmp_path / "hp2" / "00000123"
    version.mkdir(parents=True)
    (version / "model.tflite").write_bytes(_half_plus_two_tflite(with_signature))
    with ModelServer(model_name="hp2", model_base_path=str(tmp_path / "hp2"), port=0,
                     rest_api_port=None, metrics_port=None, prefer_tflite_model=True) as server:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(
            grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}"))
        signature = serving_default_of(stub, "hp2")
        (name,), (output,) = list(signature.inputs), list(signature.outputs)
        predict = predict_pb2.PredictRequest()
        predict.model_spec.name = "hp2"
        predict.inputs[name].CopyFrom(tf.make_tensor_proto(np.array([[1.0], [3.0]], np.float32)))
        answer = stub.Predict(predict, timeout=10)
        assert answer.model_spec.version.value == 123
        np.testing.assert_allclose(tf.make_ndarray(answer.outputs[output]), [[2.5], [3.5]])
