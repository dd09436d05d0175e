"""`--liveri_backend=auto` on a real image.Digits export: serving_default answered by the fastest
artifact within parity and the release budgets, timed at load; clients get that artifact's answers
(which agree with the trained model within `MIN_AGREEMENT`, not necessarily on every example)."""

from __future__ import annotations

import json
import shutil

import grpc
import numpy as np
import pytest
from google.protobuf import json_format, struct_pb2
from liveri.serve.artifacts import artifact_for, artifact_run
from liveri.serve.server import ModelServer
from sklearn.datasets import load_digits
from tensorflow_serving.apis import get_model_metadata_pb2, prediction_service_pb2_grpc

from liveri.errors import UsageError
from tests.serve.test_artifacts import predict


def backends(stub, name: str) -> dict:
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["liveri_backend"])
    request.model_spec.name = name
    answer = stub.GetModelMetadata(request, timeout=30)
    found = struct_pb2.Struct()
    answer.metadata["liveri_backend"].Unpack(found)
    assert "signature_def" not in answer.metadata  # only what was asked for
    return json_format.MessageToDict(found)


@pytest.fixture()
def repo(digits_repo, tmp_path):
    """A copy of the export whose manifest makes two artifacts unfit: tflite_int8's agreement
    is below 0.99, tflite_fp16's accuracy below release.min_metric."""
    version = tmp_path / "models" / "image_digits" / "1"
    shutil.copytree(digits_repo / "image_digits" / "1", version)
    path = version / "liveri" / "manifest.json"
    manifest = json.loads(path.read_text())
    for entry in manifest["artifacts"]:
        if entry["format"] == "tflite_int8":
            entry["metrics"]["agreement"] = 0.9
        if entry["format"] == "tflite_fp16":
            entry["metrics"]["accuracy"] = manifest["budgets"]["min_metric"] - 0.01
    path.write_text(json.dumps(manifest))
    return tmp_path / "models"


def answers_of(version: str, fmt: str, pixels: np.ndarray) -> dict[str, np.ndarray]:
    """What the artifact `fmt` answers when served alone (model_platform `fmt`)."""
    manifest, entry = artifact_for(version, fmt)
    return artifact_run(manifest, entry, version, ["classes", "scores"])({"pixels": pixels})


def test_auto_answers_from_the_fastest_fit_artifact(repo):
    pixels = load_digits().images[:64].astype(np.uint8)
    answers = {}
    for backend in ("tensorflow", "auto"):
        with ModelServer(model_repo=str(repo), port=0, rest_api_port=None, metrics_port=0,
                         liveri_backend=backend) as server:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(
                grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}"))
            answers[backend] = predict(stub, "image_digits", pixels)
            chosen = backends(stub, "image_digits")
            metrics = server.metrics.text().decode()
    default = chosen["serving_default"]
    p50 = default["p50_ms"]
    assert {"saved_model", "tflite_float", "onnx"} <= set(p50)
    assert default["backend"] == min(p50, key=p50.get)
    assert "agreement 0.9000" in default["refused"]["tflite_int8"]
    assert "release.min_metric" in default["refused"]["tflite_fp16"]
    assert chosen["features"] == {"backend": "tensorflow"}  # other signatures: the SavedModel
    alone = answers["tensorflow"] if default["backend"] == "saved_model" else answers_of(
        str(repo / "image_digits" / "1"), default["backend"], pixels)
    np.testing.assert_array_equal(answers["auto"]["classes"], alone["classes"])
    np.testing.assert_allclose(answers["auto"]["scores"], alone["scores"], atol=1e-6)
    assert (f'backend="{default["backend"]}",chosen="true",model="image_digits",'
            'signature="serving_default",version="1"}') in metrics


def test_an_unknown_backend_is_refused():
    with pytest.raises(UsageError, match="--liveri_backend: expected tensorflow"):
        ModelServer(model_repo="/nowhere", liveri_backend="fastest")
