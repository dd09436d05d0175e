"""Classify, Regress and MultiInference over tf.Example on TF Serving's half_plus_two."""

from __future__ import annotations

import grpc
import pytest
from tensorflow.core.example import example_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    inference_pb2,
    regression_pb2,
)


def _examples(target, xs):
    for x in xs:
        example = target.examples.add()
        example.features.feature["x"].float_list.value.append(x)


def test_regress(predict_stub):
    request = regression_pb2.RegressionRequest()
    request.model_spec.name = "half_plus_two"
    request.model_spec.signature_name = "regress_x_to_y"
    _examples(request.input.example_list, [1.0, 2.0, 5.0])
    response = predict_stub.Regress(request, timeout=10)
    assert [r.value for r in response.result.regressions] == [2.5, 3.0, 4.5]
    assert response.model_spec.signature_name == "regress_x_to_y"
    assert response.model_spec.version.value == 123


def test_classify_with_context(predict_stub):
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "half_plus_two"
    request.model_spec.signature_name = "classify_x_to_y"
    listed = request.input.example_list_with_context
    listed.context.features.feature["x2"].float_list.value.append(9.0)
    _examples(listed, [1.0, 3.0])
    response = predict_stub.Classify(request, timeout=10)
    scores = [[c.score for c in item.classes] for item in response.result.classifications]
    assert scores == [[2.5], [3.5]]


def test_multi_inference_runs_each_task(predict_stub):
    request = inference_pb2.MultiInferenceRequest()
    for signature, method in (("classify_x_to_y", "tensorflow/serving/classify"),
                              ("regress_x_to_y", "tensorflow/serving/regress")):
        task = request.tasks.add()
        task.model_spec.name = "half_plus_two"
        task.model_spec.signature_name = signature
        task.method_name = method
    _examples(request.input.example_list, [4.0])
    response = predict_stub.MultiInference(request, timeout=10)
    classify, regress = response.results
    assert classify.classification_result.classifications[0].classes[0].score == 4.0
    assert regress.regression_result.regressions[0].value == 4.0
    assert regress.model_spec.signature_name == "regress_x_to_y"


def test_wrong_method_and_empty_input_are_invalid(predict_stub):
    request = regression_pb2.RegressionRequest()
    request.model_spec.name = "half_plus_two"  # serving_default is a predict signature
    _examples(request.input.example_list, [1.0])
    with pytest.raises(grpc.RpcError) as caught:
        predict_stub.Regress(request, timeout=10)
    # Its method_name is not checked (TF Serving's default), its shape is: no 'inputs'.
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "'inputs'" in caught.value.details()
    request = regression_pb2.RegressionRequest()
    request.model_spec.name = "half_plus_two"
    request.model_spec.signature_name = "regress_x_to_y"
    with pytest.raises(grpc.RpcError) as caught:
        predict_stub.Regress(request, timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Input is empty" in caught.value.details()


def test_example_missing_a_required_feature_is_invalid(predict_stub):
    request = regression_pb2.RegressionRequest()
    request.model_spec.name = "half_plus_two"
    request.model_spec.signature_name = "regress_x_to_y"
    request.input.example_list.examples.add().CopyFrom(example_pb2.Example())
    with pytest.raises(grpc.RpcError) as caught:
        predict_stub.Regress(request, timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def _tf2_example_model(path):
    """A model saved as TF2 saves it: both signatures carry method_name
    tensorflow/serving/predict, though they take serialized tf.Examples as `inputs` and answer
    `scores` [N, 1] (classify's shape) and `outputs` (regress's)."""
    import tensorflow as tf

    spec = [tf.TensorSpec([None], tf.string, name="inputs")]

    def times_three(inputs):
        x = tf.io.parse_example(inputs, {"x": tf.io.FixedLenFeature([1], tf.float32)})["x"]
        return 3.0 * x

    module = tf.Module()
    tf.saved_model.save(module, str(path / "1"), signatures={
        "scores": tf.function(lambda inputs: {"scores": times_three(inputs)},
                              input_signature=spec),
        "outputs": tf.function(lambda inputs: {"outputs": times_three(inputs)[:, 0]},
                               input_signature=spec)})
    return path


@pytest.mark.parametrize("check", [False, True])
def test_predict_method_signatures_classify_and_regress_unless_the_check_is_on(tmp_path, check):
    """--enable_signature_method_name_check as TF Serving means it: off by default, so
    TF2 SavedModels (all predict method) classify and regress when their signature fits."""
    from liveri.serve.server import ModelServer
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    _tf2_example_model(tmp_path / "tf2")
    classify = classification_pb2.ClassificationRequest()
    classify.model_spec.name, classify.model_spec.signature_name = "tf2", "scores"
    _examples(classify.input.example_list, [1.0, 2.0])
    regress = regression_pb2.RegressionRequest()
    regress.model_spec.name, regress.model_spec.signature_name = "tf2", "outputs"
    _examples(regress.input.example_list, [1.0, 2.0])
    with ModelServer(model_name="tf2", model_base_path=str(tmp_path / "tf2"), port=0,
                     rest_api_port=None, metrics_port=None,
                     enable_signature_method_name_check=check) as server, \
            grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        if not check:
            scores = stub.Classify(classify, timeout=10).result.classifications
            assert [[c.score for c in item.classes] for item in scores] == [[3.0], [6.0]]
            values = stub.Regress(regress, timeout=10).result.regressions
            assert [r.value for r in values] == [3.0, 6.0]
            return
        for call, request, method in ((stub.Classify, classify, "classify"),
                                      (stub.Regress, regress, "regress")):
            with pytest.raises(grpc.RpcError) as caught:
                call(request, timeout=10)
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert f"tensorflow/serving/{method}" in caught.value.details()
