"""TF Serving's REST API, with its exact JSON shapes, against a real server."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request

import numpy as np
import pytest
import tensorflow as tf

from tests.serve.serve_helpers import digits_reference, digits_request, sample_pixels


def call(server, path: str, payload: object | None = None) -> tuple[int, dict]:
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{server.rest_port}{path}", data=data)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_half_plus_two_documented_example(server):
    status, body = call(server, "/v1/models/half_plus_two:predict",
                        {"instances": [1.0, 2.0, 5.0]})
    assert status == 200
    assert body == {"predictions": [2.5, 3.0, 4.5]}


def test_columnar_and_versioned_paths(server):
    status, body = call(server, "/v1/models/half_plus_two/versions/123:predict",
                        {"inputs": {"x": [[1.0], [3.0]]}})
    assert (status, body) == (200, {"outputs": [[2.5], [3.5]]})
    status, body = call(server, "/v1/models/half_plus_two/versions/5:predict",
                        {"inputs": [1.0]})
    assert status == 404
    assert "Servable not found for request: Specific(half_plus_two, 5)" in body["error"]


def test_classify_and_regress(server):
    status, body = call(server, "/v1/models/half_plus_two:classify", {
        "signature_name": "classify_x_to_y", "examples": [{"x": 1.0}, {"x": 3.0}]})
    assert (status, body) == (200, {"results": [[["", 2.5]], [["", 3.5]]]})
    status, body = call(server, "/v1/models/half_plus_two:regress", {
        "signature_name": "regress_x_to_y", "context": {"x2": 0.0},
        "examples": [{"x": 1.0}, {"x": 2.0}]})
    assert (status, body) == (200, {"results": [2.5, 3.0]})


def test_multi_inference_runs_several_signatures_over_the_same_examples(server):
    # TF Serving's REST API has no MultiInference; ours takes gRPC's request in JSON.
    examples = {"examples": [{"x": 1.0}, {"x": 3.0}]}
    status, body = call(server, "/v1/models/half_plus_two:multi_inference", {
        **examples, "tasks": [{"signature_name": "classify_x_to_y", "method_name": "classify"},
                              {"signature_name": "regress_x_to_y",
                               "method_name": "tensorflow/serving/regress"}]})
    assert status == 200
    _, classified = call(server, "/v1/models/half_plus_two:classify",
                         {**examples, "signature_name": "classify_x_to_y"})
    _, regressed = call(server, "/v1/models/half_plus_two:regress",
                        {**examples, "signature_name": "regress_x_to_y"})
    assert body == {"results": [
        {"signature_name": "classify_x_to_y", "results": classified["results"]},
        {"signature_name": "regress_x_to_y", "results": regressed["results"]}]}
    assert body["results"][1]["results"] == [2.5, 3.5]
    for bad, says in (({**examples, "tasks": []}, "'tasks'"),
                      ({**examples, "tasks": [{"signature_name": "regress_x_to_y",
                                               "method_name": "regress"}] * 2}, "Duplicate"),
                      ({**examples, "tasks": [{"signature_name": "regress_x_to_y",
                                               "method_name": "predict"}]}, "method_name")):
        status, body = call(server, "/v1/models/half_plus_two:multi_inference", bad)
        assert status == 400 and says in body["error"]


def test_rest_answers_equal_grpc_answers(server, predict_stub):
    pixels = sample_pixels(3)
    status, body = call(server, "/v1/models/digits:predict", {"instances": pixels.tolist()})
    assert status == 200
    rows = body["predictions"]
    assert [row["classes"] for row in rows] == digits_reference(0, pixels).tolist()
    grpc_answer = predict_stub.Predict(digits_request(pixels), timeout=10)
    assert [row["labels"] for row in rows] == [
        s.decode() for s in tf.make_ndarray(grpc_answer.outputs["labels"])]
    np.testing.assert_allclose([row["scores"] for row in rows],
                               tf.make_ndarray(grpc_answer.outputs["scores"]), rtol=1e-6)
    status, body = call(server, "/v1/models/digits:predict",
                        {"inputs": {"pixels": pixels.tolist()}})
    assert status == 200
    assert body["outputs"]["classes"] == digits_reference(0, pixels).tolist()


def test_model_status_and_metadata(server):
    status, body = call(server, "/v1/models/half_plus_two")
    assert status == 200
    assert body == {"model_version_status": [{
        "version": "123", "state": "AVAILABLE",
        "status": {"error_code": "OK", "error_message": ""}}]}
    status, body = call(server, "/v1/models/digits/metadata")
    assert status == 200
    assert body["model_spec"] == {"name": "digits", "signature_name": "", "version": "1"}
    # Exactly TF Serving's layout: the SignatureDefMap itself, no Any "@type" inside.
    assert list(body) == ["model_spec", "metadata"] and list(body["metadata"]) == ["signature_def"]
    assert list(body["metadata"]["signature_def"]) == ["signature_def"]
    assert "@type" not in json.dumps(body)
    signature = body["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert signature["inputs"]["pixels"]["dtype"] == "DT_UINT8"
    assert signature["method_name"] == "tensorflow/serving/predict"


def test_status_and_metadata_of_one_version(server):
    status, body = call(server, "/v1/models/half_plus_two/versions/123")
    assert (status, body) == (200, {"model_version_status": [{
        "version": "123", "state": "AVAILABLE",
        "status": {"error_code": "OK", "error_message": ""}}]})
    status, body = call(server, "/v1/models/digits/versions/1/metadata")
    assert status == 200
    assert body["model_spec"] == {"name": "digits", "signature_name": "", "version": "1"}
    assert "serving_default" in body["metadata"]["signature_def"]["signature_def"]
    status, body = call(server, "/v1/models/digits/versions/7")
    assert status == 404 and "digits" in body["error"]


def test_b64_strings_and_bad_requests(server):
    # half_plus_two's classify signature takes serialized tf.Examples: send one as b64.
    from tensorflow.core.example import example_pb2

    example = example_pb2.Example()
    example.features.feature["x"].float_list.value.append(7.0)
    encoded = base64.b64encode(example.SerializeToString()).decode()
    status, body = call(server, "/v1/models/half_plus_two:predict", {
        "signature_name": "regress_x_to_y", "instances": [{"b64": encoded}]})
    assert (status, body) == (200, {"predictions": [[5.5]]})
    for payload, fragment in (
        ({"instances": [[1, 2]], "inputs": [1]}, "Not both"),
        ({}, "Missing 'inputs' or 'instances'"),
        ({"instances": [{"nope": 1}]}, "nope"),
        ({"instances": [[[300] * 8] * 8]}, "out of range"),
        ({"instances": [[[0.5] * 8] * 8]}, "integers"),
    ):
        status, body = call(server, "/v1/models/digits:predict", payload)
        assert status == 400, payload
        assert fragment in body["error"]


@pytest.mark.parametrize("path", ["/v1/models/digits:explode", "/v2/models/digits", "/"])
def test_unknown_paths_are_404(server, path):
    status, body = call(server, path)
    assert status == 404 and "error" in body


def test_the_rest_timeout_counts_from_arrival_so_a_request_that_waited_for_a_worker_expires(
        server):
    # A request that arrived longer ago than the REST timeout (it waited that long for a
    # worker) answers 504 without running the model, rather than starting a fresh timeout.
    import time

    from liveri.serve.rest import RestApi

    api = RestApi(server._dispatcher, timeout_seconds=1.0)
    body = json.dumps({"instances": sample_pixels(1).tolist()}).encode()
    status, answer, _ = api.handle("POST", "/v1/models/digits:predict", body,
                                   time.monotonic() - 2.0)
    assert status == 504 and "Deadline" in json.loads(answer)["error"]
    status, answer, _ = api.handle("POST", "/v1/models/digits:predict", body, time.monotonic())
    assert status == 200
    assert [row["classes"] for row in json.loads(answer)["predictions"]] == \
        digits_reference(0, sample_pixels(1)).tolist()
