"""SavedModels written by Keras, not by Liveri: Keras 3's `model.export` and Keras 2's
(`tf_keras`) `tf.saved_model.save`, served and asked as a TF Serving client would."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
import tensorflow as tf
from liveri.serve.server import ModelServer
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from tests.serve.serve_helpers import serving_default_of


def _keras3(path: str) -> object:
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.export(path, verbose=False)
    return model


def _keras2(path: str) -> object:
    import tf_keras

    model = tf_keras.Sequential([tf_keras.layers.Dense(3, activation="softmax",
                                                       input_shape=(4,))])
    tf.saved_model.save(model, path)
    return model


@pytest.mark.parametrize("write", [_keras3, _keras2], ids=["keras3_export", "tf_keras_save"])
def test_keras_saved_models_serve_their_signature(tmp_path, write):
    model = write(str(tmp_path / "repo" / "clf" / "1"))
    x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    expected = np.asarray(model(x))
    with ModelServer(model_repo=str(tmp_path / "repo"), port=0, rest_api_port=None,
                     metrics_port=None) as server:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(
            grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}"))
        signature = serving_default_of(stub, "clf")
        (input_name,) = signature.inputs
        (output_name,) = signature.outputs
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "clf"
        request.inputs[input_name].CopyFrom(tf.make_tensor_proto(x))
        answer = stub.Predict(request, timeout=10)
        np.testing.assert_allclose(tf.make_ndarray(answer.outputs[output_name]), expected,
                                   rtol=1e-5, atol=1e-6)
