"""TensorProto <-> numpy conversion on the request path, bounded and without TensorFlow calls.

Why not `tf.make_ndarray`/`tf.make_tensor_proto`: they cost tens of microseconds per tensor and
trust the declared shape, so a tiny request declaring a huge shape could exhaust memory. Outputs
use TF Serving's default encoding (typed `*_val` fields), which stock clients read.
"""

from __future__ import annotations

import math

import grpc
import numpy as np
from liveri.serve.errors import ServingError, invalid
from tensorflow.core.framework import tensor_pb2, types_pb2

# The largest tensor one request may make the server build (declared elements x item size).
MAX_TENSOR_BYTES = 1 << 30

NUMPY_DTYPES: dict[int, np.dtype] = {
    types_pb2.DT_FLOAT: np.dtype(np.float32),
    types_pb2.DT_DOUBLE: np.dtype(np.float64),
    types_pb2.DT_HALF: np.dtype(np.float16),
    types_pb2.DT_INT8: np.dtype(np.int8),
    types_pb2.DT_INT16: np.dtype(np.int16),
    types_pb2.DT_INT32: np.dtype(np.int32),
    types_pb2.DT_INT64: np.dtype(np.int64),
    types_pb2.DT_UINT8: np.dtype(np.uint8),
    types_pb2.DT_UINT16: np.dtype(np.uint16),
    types_pb2.DT_UINT32: np.dtype(np.uint32),
    types_pb2.DT_UINT64: np.dtype(np.uint64),
    types_pb2.DT_BOOL: np.dtype(np.bool_),
    types_pb2.DT_STRING: np.dtype(object),
}
_ENUM_BY_NUMPY = {v: k for k, v in NUMPY_DTYPES.items() if k != types_pb2.DT_STRING}

# Which repeated field carries each dtype's values (TensorProto's AsProtoField layout).
_VALUE_FIELD = {
    types_pb2.DT_FLOAT: "float_val",
    types_pb2.DT_DOUBLE: "double_val",
    types_pb2.DT_HALF: "half_val",
    types_pb2.DT_INT8: "int_val",
    types_pb2.DT_INT16: "int_val",
    types_pb2.DT_INT32: "int_val",
    types_pb2.DT_UINT8: "int_val",
    types_pb2.DT_UINT16: "int_val",
    types_pb2.DT_INT64: "int64_val",
    types_pb2.DT_UINT32: "uint32_val",
    types_pb2.DT_UINT64: "uint64_val",
    types_pb2.DT_BOOL: "bool_val",
    types_pb2.DT_STRING: "string_val",
}


def dtype_name(enum: int) -> str:
    """`DT_FLOAT` for 1: the spelling TF Serving's messages and metadata use."""
    try:
        return types_pb2.DataType.Name(enum)
    except ValueError:
        return f"DataType({enum})"


def shape_text(shape: tuple[int, ...] | list[int] | None) -> str:
    """`[-1,8,8]` for a shape with an unknown batch, `<unknown>` for unknown rank."""
    if shape is None:
        return "<unknown>"
    return "[" + ",".join(str(-1 if d is None else d) for d in shape) + "]"


def check_size(name: str, shape: tuple[int, ...], itemsize: int) -> int:
    """Refuse a tensor the server would need too much memory to build; returns its element count."""
    count = math.prod(shape)
    if count * itemsize > MAX_TENSOR_BYTES:
        raise ServingError(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"input '{name}' of shape {shape_text(shape)} is too large: the server accepts at most "
            f"{MAX_TENSOR_BYTES} bytes per tensor; send smaller batches",
        )
    return count


def to_ndarray(name: str, proto: tensor_pb2.TensorProto) -> np.ndarray:
    """The request tensor as a numpy array, or INVALID_ARGUMENT naming `name` and what is wrong."""
    dtype = NUMPY_DTYPES.get(proto.dtype)
    if dtype is None:
        raise invalid(f"input '{name}' has unsupported dtype {dtype_name(proto.dtype)}")
    shape_proto = proto.tensor_shape
    if shape_proto.unknown_rank:
        raise invalid(f"input '{name}' must have a fully defined shape, got unknown rank")
    shape = tuple([d.size for d in shape_proto.dim])
    if shape and min(shape) < 0:
        raise invalid(f"input '{name}' must have a fully defined shape, got {shape_text(shape)}")
    count = check_size(name, shape, dtype.itemsize)
    content = proto.tensor_content  # each read of the field copies it: read it once
    if content:
        if proto.dtype == types_pb2.DT_STRING:
            raise invalid(f"input '{name}': DT_STRING tensors cannot use tensor_content")
        if len(content) != count * dtype.itemsize:
            raise invalid(
                f"input '{name}': tensor_content holds {len(content)} bytes but shape "
                f"{shape_text(shape)} of {dtype_name(proto.dtype)} needs {count * dtype.itemsize}"
            )
        return np.frombuffer(content, dtype=dtype).reshape(shape)
    values = getattr(proto, _VALUE_FIELD[proto.dtype])
    given = len(values)
    if given > count:
        raise invalid(
            f"input '{name}' holds {given} values but its shape {shape_text(shape)} has {count}"
        )
    if proto.dtype == types_pb2.DT_HALF:
        flat = np.array(values, dtype=np.uint16).view(np.float16)
    elif proto.dtype == types_pb2.DT_STRING:
        flat = np.empty(given, dtype=object)
        flat[:] = list(values)
    else:
        flat = np.array(values, dtype=dtype)
    if given == count:
        return flat.reshape(shape)
    # TensorFlow's rule for short value lists: repeat the last value (zeros if none).
    fill = flat[-1] if given else (b"" if proto.dtype == types_pb2.DT_STRING else 0)
    out = np.full(count, fill, dtype=dtype)
    out[:given] = flat
    return out.reshape(shape)


def to_proto(array: np.ndarray, proto: tensor_pb2.TensorProto | None = None) -> tensor_pb2.TensorProto:
    """`array` as a TensorProto in TF Serving's default layout (typed value fields)."""
    proto = tensor_pb2.TensorProto() if proto is None else proto
    array = np.asarray(array)
    if array.dtype.kind in "OSU":
        proto.dtype = types_pb2.DT_STRING
        proto.string_val.extend(
            v.encode() if isinstance(v, str) else bytes(v) for v in array.ravel().tolist()
        )
    else:
        enum = _ENUM_BY_NUMPY.get(array.dtype)
        if enum is None:
            raise ServingError(grpc.StatusCode.INTERNAL, f"cannot encode output dtype {array.dtype}")
        proto.dtype = enum
        flat = array.ravel()
        if enum == types_pb2.DT_HALF:
            flat = flat.view(np.uint16)
        getattr(proto, _VALUE_FIELD[enum]).extend(flat.tolist())
    dims = proto.tensor_shape.dim
    for size in array.shape:
        dims.add().size = size
    return proto

