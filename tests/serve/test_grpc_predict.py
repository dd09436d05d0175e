"""A TF Serving client, using only the stock stubs, against a real server on a free port."""

from __future__ import annotations

import urllib.request

import grpc
import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import descriptor_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    predict_pb2,
)

from tests.serve.serve_helpers import digits_reference, digits_request, sample_pixels


def test_digits_predictions_match_the_model(predict_stub):
    pixels = sample_pixels(5)
    response = predict_stub.Predict(digits_request(pixels), timeout=10)
    classes = tf.make_ndarray(response.outputs["classes"])
    np.testing.assert_array_equal(classes, digits_reference(0, pixels))
    labels = tf.make_ndarray(response.outputs["labels"])
    assert [s.decode() for s in labels] == [f"digit_{c}" for c in classes]
    scores = tf.make_ndarray(response.outputs["scores"])
    assert scores.shape == (5, 10) and scores.dtype == np.float32
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, rtol=1e-5)
    assert response.model_spec.name == "digits"
    assert response.model_spec.version.value == 1
    assert response.model_spec.signature_name == "serving_default"


def test_output_filter_and_explicit_version(predict_stub):
    request = digits_request(sample_pixels(2), version=1, signature_name="serving_default")
    request.output_filter.append("classes")
    response = predict_stub.Predict(request, timeout=10)
    assert set(response.outputs) == {"classes"}
    # Stock scripts read typed value fields directly, as TF Serving fills them.
    assert list(response.outputs["classes"].int64_val) == list(
        digits_reference(0, sample_pixels(2)))


def test_half_plus_two_tf1_predict_and_padded_version(predict_stub):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "half_plus_two"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto([[1.0], [2.0], [5.0]], tf.float32))
    response = predict_stub.Predict(request, timeout=10)
    assert list(response.outputs["y"].float_val) == [2.5, 3.0, 4.5]
    assert response.model_spec.version.value == 123  # folder "00000123"


def test_unknown_model_and_version_are_not_found(predict_stub):
    request = digits_request(sample_pixels(1))
    request.model_spec.name = "nope"
    with pytest.raises(grpc.RpcError) as caught:
        predict_stub.Predict(request, timeout=10)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert "Servable not found for request: Latest(nope)" in caught.value.details()
    with pytest.raises(grpc.RpcError) as caught:
        predict_stub.Predict(digits_request(sample_pixels(1), version=7), timeout=10)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert "Servable not found for request: Specific(digits, 7)" in caught.value.details()


def test_wrong_dtype_and_shape_name_the_input(predict_stub):
    with pytest.raises(grpc.RpcError) as caught:
        predict_stub.Predict(digits_request(np.zeros((1, 8, 8), np.float32)), timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "pixels" in caught.value.details() and "DT_UINT8" in caught.value.details()
    with pytest.raises(grpc.RpcError) as caught:
        predict_stub.Predict(digits_request(np.zeros((1, 9, 8), np.uint8)), timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "pixels" in caught.value.details() and "[-1,8,8]" in caught.value.details()


def test_metadata_has_the_signature_def(predict_stub):
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = "digits"
    request.metadata_field.append("signature_def")
    response = predict_stub.GetModelMetadata(request, timeout=10)
    signatures = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(signatures)
    serving = signatures.signature_def["serving_default"]
    assert serving.inputs["pixels"].dtype == tf.uint8.as_datatype_enum
    assert [d.size for d in serving.inputs["pixels"].tensor_shape.dim] == [-1, 8, 8]
    assert set(serving.outputs) == {"classes", "labels", "scores"}
    assert response.model_spec.version.value == 1


def test_model_status_is_available(model_stub):
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "digits"
    response = model_stub.GetModelStatus(request, timeout=10)
    [status] = response.model_version_status
    assert status.version == 1
    assert status.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE
    request.model_spec.name = "nope"
    with pytest.raises(grpc.RpcError) as caught:
        model_stub.GetModelStatus(request, timeout=10)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_health_serving_for_server_and_each_model(channel):
    stub = health_pb2_grpc.HealthStub(channel)
    for service in ("", "digits", "half_plus_two"):
        answer = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING, service
    with pytest.raises(grpc.RpcError) as caught:
        stub.Check(health_pb2.HealthCheckRequest(service="nope"), timeout=10)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_reflection_lists_the_services(channel):
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    [answer] = list(stub.ServerReflectionInfo(iter([request]), timeout=10))
    names = {s.name for s in answer.list_services_response.service}
    assert {"tensorflow.serving.PredictionService", "tensorflow.serving.ModelService",
            "grpc.health.v1.Health"} <= names
    request = reflection_pb2.ServerReflectionRequest(
        file_containing_symbol="tensorflow.serving.PredictionService")
    [answer] = list(stub.ServerReflectionInfo(iter([request]), timeout=10))
    file = descriptor_pb2.FileDescriptorProto.FromString(
        answer.file_descriptor_response.file_descriptor_proto[0])
    assert file.package == "tensorflow.serving"


def test_metrics_hold_a_latency_histogram_labelled_by_model(server, predict_stub):
    predict_stub.Predict(digits_request(sample_pixels(1)), timeout=10)
    text = urllib.request.urlopen(
        f"http://127.0.0.1:{server.metrics_port}/metrics", timeout=10).read().decode()
    assert ('liveri_serve_request_latency_seconds_bucket{le="0.001",method="predict",'
            'model="digits",signature="serving_default",status="OK",version="1"}') in text
    assert 'liveri_serve_requests_total{method="predict",model="digits"' in text
    assert 'liveri_serve_model_load_seconds{model="digits",version="1"}' in text
