"""A real image.Digits export served from its TFLite and ONNX artifacts, chosen by model_platform.

Clients see the same `serving_default` (pixels -> classes, labels, scores) whichever backend
answers; an artifact whose parity is too low is refused and the old version keeps serving.
"""

from __future__ import annotations

import json
import shutil

import grpc
import numpy as np
import pytest
import tensorflow as tf
from liveri.serve.server import ModelServer
from sklearn.datasets import load_digits
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)
from tensorflow_serving.config import model_server_config_pb2

PLATFORMS = ("tensorflow", "tflite", "onnx", "tflite_int8")


def config(models: dict[str, tuple[str, str]]) -> model_server_config_pb2.ModelServerConfig:
    proto = model_server_config_pb2.ModelServerConfig()
    for name, (base_path, platform) in models.items():
        entry = proto.model_config_list.config.add()
        entry.name, entry.base_path, entry.model_platform = name, base_path, platform
    return proto


def predict(stub, name: str, pixels: np.ndarray) -> dict[str, np.ndarray]:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    request.inputs["pixels"].CopyFrom(tf.make_tensor_proto(pixels))
    answer = stub.Predict(request, timeout=30)
    return {key: tf.make_ndarray(value) for key, value in answer.outputs.items()}


def signature_of(stub, name: str):
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = name
    answer = stub.GetModelMetadata(request, timeout=30)
    signatures = get_model_metadata_pb2.SignatureDefMap()
    answer.metadata["signature_def"].Unpack(signatures)
    return signatures.signature_def["serving_default"]


def test_artifacts_answer_as_the_saved_model_does(digits_repo):
    base = str(digits_repo / "image_digits")
    models = {f"digits_{p}": (base, p) for p in PLATFORMS}
    pixels = load_digits().images[:64].astype(np.uint8)
    with ModelServer(model_config=config(models), port=0, rest_api_port=None, metrics_port=None,
                     enable_batching=True, file_system_poll_wait_seconds=0) as server:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(
            grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}"))
        platforms = {s.name: s.platform for s in server.manager.loaded_servables()}
        assert platforms == {"digits_tensorflow": "tensorflow", "digits_tflite": "tflite_float",
                             "digits_onnx": "onnx", "digits_tflite_int8": "tflite_int8"}
        reference = predict(stub, "digits_tensorflow", pixels)
        assert (reference["classes"] == load_digits().target[:64]).mean() > 0.8
        expected = signature_of(stub, "digits_tensorflow")
        for platform in PLATFORMS[1:]:
            answer = predict(stub, f"digits_{platform}", pixels)
            assert set(answer) == {"classes", "labels", "scores"}
            assert answer["classes"].dtype == np.int64 and answer["scores"].shape == (64, 10)
            assert (answer["classes"] == reference["classes"]).mean() >= 0.98, platform
            assert (answer["labels"] == reference["labels"]).mean() >= 0.98, platform
            np.testing.assert_allclose(answer["scores"], reference["scores"], atol=0.05)
            assert signature_of(stub, f"digits_{platform}") == expected
        one = predict(stub, "digits_tflite", pixels[:1])  # single examples too
        assert one["classes"].tolist() == reference["classes"][:1].tolist()


def test_low_parity_artifact_is_refused_and_the_old_version_keeps_serving(digits_repo, tmp_path):
    base = tmp_path / "image_digits"
    shutil.copytree(digits_repo / "image_digits" / "1", base / "1")
    with ModelServer(model_config=config({"digits": (str(base), "tflite")}), port=0,
                     rest_api_port=None, metrics_port=None,
                     file_system_poll_wait_seconds=0) as server:
        version_2 = base / "2"
        shutil.copytree(base / "1", tmp_path / "staging")
        manifest_path = tmp_path / "staging" / "liveri" / "manifest.json"
        manifest = json.loads(manifest_path.read_text())
        for entry in manifest["artifacts"]:
            if entry["format"] == "tflite_float":
                entry["metrics"]["agreement"] = 0.95
        manifest_path.write_text(json.dumps(manifest))
        (tmp_path / "staging").rename(version_2)
        server.manager.reconcile()

        channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")
        status = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(
            get_model_status_pb2.GetModelStatusRequest(model_spec={"name": "digits"}), timeout=30)
        states = {s.version: s for s in status.model_version_status}
        assert states[2].status.error_code == grpc.StatusCode.FAILED_PRECONDITION.value[0]
        assert "agreement 0.9500" in states[2].status.error_message
        assert "at least 0.99" in states[2].status.error_message
        assert states[1].state == get_model_status_pb2.ModelVersionStatus.AVAILABLE
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        answer = predict(stub, "digits", load_digits().images[:4].astype(np.uint8))
        assert answer["classes"].shape == (4,)


def test_unknown_platform_names_the_artifacts_there_are(digits_repo):
    base = str(digits_repo / "image_digits")
    with pytest.raises(Exception, match="tflite_float") as caught:
        ModelServer(model_config=config({"digits": (base, "coreml")}), port=0,
                    rest_api_port=None, metrics_port=None).start()
    assert "'coreml' is not in version 1 of image_digits" in str(caught.value)
