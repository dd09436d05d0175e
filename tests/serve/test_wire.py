"""Hand-written PredictResponse bytes parse into exactly the message protobuf would build."""

import numpy as np
import pytest
from liveri.serve.tensors import to_proto
from liveri.serve.wire import predict_response_bytes, tensor_bytes
from tensorflow.core.framework import tensor_pb2
from tensorflow_serving.apis import model_pb2, predict_pb2

ARRAYS = {
    "float32": np.array([[0.5, -1.25, np.inf], [3e38, -0.0, 1e-40]], np.float32),
    "float64": np.array([1.5, -2.0, np.pi]),
    "int64 small": np.array([0, 3, 127], np.int64),
    "int64 large and negative": np.array([128, -1, 2 ** 40, -(2 ** 63)], np.int64),
    "int32 negative": np.array([[-5, 7]], np.int32),
    "uint8": np.arange(10, dtype=np.uint8).reshape(2, 5),
    "uint8 beyond 127": np.array([200, 255], np.uint8),
    "int16": np.array([1, 2], np.int16),
    "bool": np.array([True, False, True]),
    "bytes": np.array([b"three", b"", b"\x00\xff"], dtype=object),
    "str": np.array(["na\u00efve", "x"]),
    "float16": np.array([1.0, -2.5], np.float16),
    "uint64": np.array([2 ** 63], np.uint64),
    "scalar": np.float32(4.5).reshape(()),
    "empty": np.zeros((0, 3), np.float32),
    "zero-sized strings": np.zeros((2, 0), dtype=object),
    "a batch slice (a view)": np.arange(40, dtype=np.float32).reshape(4, 10)[1:3, ::2],
    "long string": np.array([b"y" * 300], dtype=object),
    "many dims": np.ones((1, 1, 2, 1, 3), np.float32),
    "a large dim": np.ones((1, 200), np.int64),
}


@pytest.mark.parametrize("name", sorted(ARRAYS))
def test_tensor_bytes_parse_to_the_proto_protobuf_builds(name):
    array = ARRAYS[name]
    assert tensor_pb2.TensorProto.FromString(tensor_bytes(array)) == to_proto(array)


def test_a_response_carries_every_output_and_the_model_spec():
    spec = model_pb2.ModelSpec(name="digits", signature_name="serving_default")
    spec.version.value = 7
    outputs = {"scores": ARRAYS["float32"], "classes": ARRAYS["int64 small"],
               "labels": ARRAYS["bytes"]}
    expected = predict_pb2.PredictResponse()
    expected.model_spec.CopyFrom(spec)
    for key, value in outputs.items():
        to_proto(value, expected.outputs[key])
    for _ in range(2):  # the second time through, from the caches
        got = predict_pb2.PredictResponse.FromString(
            predict_response_bytes(spec.SerializeToString(), outputs))
        assert got == expected
