"""Test models built for real in tmp dirs, and small request helpers.

`half_plus_two` is TF Serving's own test model, rebuilt the way its testdata script does (TF1
graph, SavedModelBuilder, predict/classify/regress signatures). `digits` has the shape of Liveri's
image.Digits export: uint8 pixels [None, 8, 8] -> classes, labels, scores.
"""

from __future__ import annotations

import os
import shutil

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

v1 = tf.compat.v1


def build_half_plus_two(export_dir: str, a: float = 0.5, b: float = 2.0,
                        warmup: bool = True) -> str:
    """TF Serving's saved_model_half_plus_two: y = a*x + b, TF1 style."""
    with tf.Graph().as_default():
        va = v1.Variable(a, name="a")
        vb = v1.Variable(b, name="b")
        serialized = v1.placeholder(tf.string, name="tf_example", shape=[None])
        features = {"x": tf.io.FixedLenFeature([1], tf.float32),
                    "x2": tf.io.FixedLenFeature([1], tf.float32, default_value=[0.0])}
        parsed = v1.io.parse_example(serialized, features)
        x = tf.identity(parsed["x"], name="x")
        y = tf.add(tf.multiply(va, x), vb, name="y")
        info = v1.saved_model.utils.build_tensor_info
        build = v1.saved_model.signature_def_utils.build_signature_def
        predict = build({"x": info(x)}, {"y": info(y)}, "tensorflow/serving/predict")
        classify = build({"inputs": info(serialized)}, {"scores": info(y)},
                         "tensorflow/serving/classify")
        regress = build({"inputs": info(serialized)}, {"outputs": info(y)},
                        "tensorflow/serving/regress")
        builder = v1.saved_model.builder.SavedModelBuilder(export_dir)
        with v1.Session() as session:
            session.run(v1.global_variables_initializer())
            builder.add_meta_graph_and_variables(
                session, [v1.saved_model.tag_constants.SERVING],
                signature_def_map={"serving_default": predict, "classify_x_to_y": classify,
                                   "regress_x_to_y": regress})
        builder.save()
    if warmup:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "half_plus_two"
        request.inputs["x"].CopyFrom(tf.make_tensor_proto([[1.0], [2.0]], tf.float32))
        write_warmup(export_dir, [request])
    return export_dir


class _Digits(tf.Module):
    def __init__(self, seed: int) -> None:
        super().__init__()
        rng = np.random.default_rng(seed)
        self.w = tf.Variable(rng.normal(size=(64, 10)).astype("float32"))
        self.label_names = tf.constant([f"digit_{i}" for i in range(10)])

    @tf.function(input_signature=[tf.TensorSpec([None, 8, 8], tf.uint8, name="pixels")])
    def serve(self, pixels: tf.Tensor) -> dict[str, tf.Tensor]:
        x = tf.reshape(tf.cast(pixels, tf.float32) / 16.0, [-1, 64])
        scores = tf.nn.softmax(x @ self.w)
        classes = tf.argmax(scores, axis=-1)
        return {"classes": classes, "labels": tf.gather(self.label_names, classes),
                "scores": scores}


def build_digits(export_dir: str, seed: int = 0, warmup: bool = True) -> str:
    """A TF2 model with the signature of Liveri's image.Digits export."""
    module = _Digits(seed)
    tf.saved_model.save(module, export_dir, signatures={"serving_default": module.serve})
    if warmup:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "digits"
        request.inputs["pixels"].CopyFrom(tf.make_tensor_proto(np.zeros((2, 8, 8), np.uint8)))
        write_warmup(export_dir, [request])
    return export_dir


def digits_reference(seed: int, pixels: np.ndarray) -> np.ndarray:
    """What the digits model answers, computed with numpy: the test's independent oracle."""
    w = np.random.default_rng(seed).normal(size=(64, 10)).astype("float32")
    return np.argmax(pixels.reshape(-1, 64).astype(np.float32) / 16.0 @ w, axis=-1)


def write_warmup(export_dir: str, requests: list) -> None:
    """TF Serving's warmup file: PredictionLog records in assets.extra."""
    folder = os.path.join(export_dir, "assets.extra")
    os.makedirs(folder, exist_ok=True)
    with tf.io.TFRecordWriter(os.path.join(folder, "tf_serving_warmup_requests")) as writer:
        for request in requests:
            log = prediction_log_pb2.PredictionLog()
            log.predict_log.request.CopyFrom(request)
            writer.write(log.SerializeToString())


def digits_request(pixels: np.ndarray, **spec: object) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "digits"
    for key, value in spec.items():
        if key == "version":
            request.model_spec.version.value = value
        else:
            setattr(request.model_spec, key, value)
    request.inputs["pixels"].CopyFrom(tf.make_tensor_proto(pixels))
    return request


def sample_pixels(count: int, seed: int = 7) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 17, size=(count, 8, 8), dtype=np.uint8)


def install(built: str, repo: str, name: str, version: int | str) -> str:
    """Copy a built model into REPO/NAME/VERSION atomically (a rename, as exporters do)."""
    target = os.path.join(repo, name, str(version))
    staging = os.path.join(repo, name, f".tmp-{version}")
    os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.copytree(built, staging)
    os.rename(staging, target)
    return target


def serving_default_of(stub, name: str):
    """The `serving_default` SignatureDef of model `name`, by GetModelMetadata."""
    from tensorflow_serving.apis import get_model_metadata_pb2

    ask = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    ask.model_spec.name = name
    signatures = get_model_metadata_pb2.SignatureDefMap()
    stub.GetModelMetadata(ask, timeout=10).metadata["signature_def"].Unpack(signatures)
    return signatures.signature_def["serving_default"]
