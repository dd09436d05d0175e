"""PredictResponse bytes written straight from numpy outputs, for the gRPC hot path.

Building a TensorProto per output per request, then serializing the response, was the largest
cost of our own code per batched request. The bytes here are the same message in protobuf's wire
format, in TF Serving's default layout (typed value fields, as `tensors.to_proto` writes them):
a client parses them into the PredictResponse protobuf itself would have built. Dtypes whose
values are not plain bytes on the wire in the common case (ints beyond 0..127, halves, uint32
and uint64) are encoded by protobuf itself, one tensor at a time.
"""

from __future__ import annotations

import numpy as np
from liveri.serve.tensors import to_proto
from tensorflow.core.framework import types_pb2

# Field numbers of TensorProto, TensorShapeProto and PredictResponse (tensor.proto,
# tensor_shape.proto, predict.proto).
_DTYPE, _SHAPE = 1, 2
_FLOAT_VAL, _DOUBLE_VAL, _INT_VAL, _STRING_VAL, _INT64_VAL, _BOOL_VAL = 5, 6, 7, 8, 10, 11
_DIM, _DIM_SIZE = 2, 1
_OUTPUTS, _MODEL_SPEC = 1, 2
_MAP_KEY, _MAP_VALUE = 1, 2

_VARINT, _LENGTH = 0, 2

# numpy dtype -> (DataType enum, value field, little-endian layout): float and double values are
# packed fixed-width, as in memory; integers and bools are packed varints, one byte each while
# they lie in 0..127.
_FIXED = {
    np.dtype(np.float32): (types_pb2.DT_FLOAT, _FLOAT_VAL, "<f4"),
    np.dtype(np.float64): (types_pb2.DT_DOUBLE, _DOUBLE_VAL, "<f8"),
}
_SMALL_INTS = {
    np.dtype(np.int64): (types_pb2.DT_INT64, _INT64_VAL),
    np.dtype(np.int32): (types_pb2.DT_INT32, _INT_VAL),
    np.dtype(np.int16): (types_pb2.DT_INT16, _INT_VAL),
    np.dtype(np.int8): (types_pb2.DT_INT8, _INT_VAL),
    np.dtype(np.uint8): (types_pb2.DT_UINT8, _INT_VAL),
    np.dtype(np.uint16): (types_pb2.DT_UINT16, _INT_VAL),
    np.dtype(np.bool_): (types_pb2.DT_BOOL, _BOOL_VAL),
}


_ONE_BYTE = [bytes((i,)) for i in range(0x80)]


def _varint(value: int) -> bytes:
    """A non-negative int as a protobuf varint."""
    if value < 0x80:
        return _ONE_BYTE[value]
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _tag(field: int, wire_type: int) -> bytes:
    return _varint(field << 3 | wire_type)


def _length_delimited(field: int, payload: bytes) -> bytes:
    return _tag(field, _LENGTH) + _varint(len(payload)) + payload


_DIM_TAG = _tag(_DIM, _LENGTH)
_DIM_SIZE_TAG = _tag(_DIM_SIZE, _VARINT)
_DTYPE_TAG = _tag(_DTYPE, _VARINT)
_STRING_TAG = _tag(_STRING_VAL, _LENGTH)


def _shape(shape: tuple[int, ...]) -> bytes:
    parts = []
    for size in shape:
        dim = _DIM_SIZE_TAG + _varint(size) if size else b""
        parts.append(_DIM_TAG + _varint(len(dim)) + dim)
    return _length_delimited(_SHAPE, b"".join(parts))


_HEADERS: dict[tuple, bytes] = {}  # (dtype, shape) -> the tensor's bytes before its values


def _header(enum: int, shape: tuple[int, ...], field: int | None, size: int) -> bytes:
    """dtype, shape and the value field's tag and length: all but the values, which follow.
    The field and the values' size follow from the dtype and shape, so those key the cache."""
    key = (enum, shape)
    header = _HEADERS.get(key)
    if header is None:
        header = _DTYPE_TAG + _varint(enum) + (_shape(shape) if shape else b"")
        if field is not None and size:
            header += _tag(field, _LENGTH) + _varint(size)
        if len(_HEADERS) < 4096:  # shapes vary with batch size; keep the cache bounded
            _HEADERS[key] = header
    return header


def tensor_bytes(array: np.ndarray) -> bytes:
    """`array` as serialized TensorProto bytes, equal in content to `to_proto(array)`."""
    dtype = array.dtype
    fixed = _FIXED.get(dtype)
    if fixed is not None:
        enum, field, wire = fixed
        values = array.astype(wire, copy=False).tobytes()
        return _header(enum, array.shape, field, len(values)) + values
    small = _SMALL_INTS.get(dtype)
    if small is not None:
        listed = array.ravel().tolist()
        if all(0 <= v < 0x80 for v in listed):
            enum, field = small
            return _header(enum, array.shape, field, len(listed)) + bytes(listed)
    elif dtype.kind in "OSU":
        parts = [_header(types_pb2.DT_STRING, array.shape, None, 0)]
        for value in array.ravel().tolist():
            data = value.encode() if isinstance(value, str) else bytes(value)
            parts.append(_STRING_TAG + _varint(len(data)) + data)
        return b"".join(parts)
    return to_proto(array).SerializeToString()


_KEYS: dict[str, bytes] = {}  # output alias -> its map entry's key field
_MAP_VALUE_TAG = _tag(_MAP_VALUE, _LENGTH)
_OUTPUTS_TAG = _tag(_OUTPUTS, _LENGTH)
_MODEL_SPEC_TAG = _tag(_MODEL_SPEC, _LENGTH)


def predict_response_bytes(model_spec: bytes, outputs: dict[str, np.ndarray]) -> bytes:
    """A serialized PredictResponse: `outputs` by alias and the (already serialized) model spec."""
    parts = []
    for key, value in outputs.items():
        key_field = _KEYS.get(key)
        if key_field is None:
            key_field = _length_delimited(_MAP_KEY, key.encode())
            if len(_KEYS) < 4096:
                _KEYS[key] = key_field
        tensor = tensor_bytes(value)
        tensor_size = _varint(len(tensor))
        entry_size = len(key_field) + len(_MAP_VALUE_TAG) + len(tensor_size) + len(tensor)
        parts += (_OUTPUTS_TAG, _varint(entry_size), key_field, _MAP_VALUE_TAG, tensor_size,
                  tensor)
    parts += (_MODEL_SPEC_TAG, _varint(len(model_spec)), model_spec)
    return b"".join(parts)
