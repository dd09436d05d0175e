"""TFLite loader (`--prefer_tflite_model`): serve a version's TFLite file through LiteRT.

TF Serving looks for `model.tflite` in the version folder; a Liveri export keeps its float model
at `liveri/model_float.tflite`. The interpreter is not thread-safe, so calls are serialized; the
signature's declared inputs and outputs come from the TFLite signature itself. A file with no
SignatureDef is served as TF Serving serves it: one `serving_default` whose inputs and outputs
are the model's tensors, keyed by tensor name (without a `:0` suffix).
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import numpy as np
from liveri.serve.loader import DEFAULT_SIGNATURE, PREDICT_METHOD, Servable, Signature, TensorSpec
from liveri.serve.tensors import NUMPY_DTYPES
from tensorflow.core.protobuf import meta_graph_pb2

from liveri.artifact import formats

CANDIDATES = ("model.tflite", formats.get("tflite_float").file)
_ENUM_BY_NUMPY = {dtype: enum for enum, dtype in NUMPY_DTYPES.items()}


def find_tflite_model(version_path: str) -> str | None:
    """The version's TFLite file, if it has one."""
    for name in CANDIDATES:
        path = os.path.join(version_path, name)
        if os.path.isfile(path):
            return path
    return None


def _spec(alias: str, detail: dict[str, Any]) -> TensorSpec:
    dims = detail.get("shape_signature")
    if dims is None or len(dims) == 0:
        dims = detail["shape"]
    dtype = np.dtype(detail["dtype"])
    enum = _ENUM_BY_NUMPY.get(np.dtype(object) if dtype.kind in "OSU" else dtype, 0)
    return TensorSpec(alias, enum, tuple(None if d < 0 else int(d) for d in dims))


def _signature_def(inputs: dict[str, TensorSpec], outputs: dict[str, TensorSpec]
                   ) -> meta_graph_pb2.SignatureDef:
    sig_def = meta_graph_pb2.SignatureDef(method_name=PREDICT_METHOD)
    for target, specs in ((sig_def.inputs, inputs), (sig_def.outputs, outputs)):
        for alias, spec in specs.items():
            info = target[alias]
            info.name = alias
            info.dtype = spec.dtype
            for size in spec.shape or ():
                info.tensor_shape.dim.add().size = -1 if size is None else size
    return sig_def


def load_tflite(name: str, version: int, version_path: str, tflite_path: str) -> Servable:
    """A servable whose signatures run the TFLite model's signature runners."""
    from ai_edge_litert.interpreter import Interpreter

    started = time.perf_counter()
    interpreter = Interpreter(model_path=tflite_path)
    lock = threading.Lock()
    signatures: dict[str, Signature] = {}
    signature_defs: dict[str, meta_graph_pb2.SignatureDef] = {}
    keys = list(interpreter.get_signature_list())
    for key in keys or [DEFAULT_SIGNATURE]:
        runner = (interpreter.get_signature_runner(key) if keys
                  else _TensorRunner(interpreter))
        inputs = {a: _spec(a, d) for a, d in runner.get_input_details().items()}
        outputs = {a: _spec(a, d) for a, d in runner.get_output_details().items()}

        def run(feeds: dict[str, np.ndarray], runner: Any = runner) -> dict[str, np.ndarray]:
            with lock:
                answer = runner(**{k: np.ascontiguousarray(v) for k, v in feeds.items()})
                return {k: np.array(v) for k, v in answer.items()}

        signatures[key] = Signature(key, PREDICT_METHOD, inputs, outputs, run)
        signature_defs[key] = _signature_def(inputs, outputs)
    servable = Servable(name, version, version_path, signatures, signature_defs,
                        platform="tflite", _model=interpreter)
    servable.load_seconds = time.perf_counter() - started
    return servable


class _TensorRunner:
    """A signature runner's interface over a model without SignatureDefs: its input and output
    tensors by name, each input resized to what it is fed (tensors reallocated only when a
    shape changes)."""

    def __init__(self, interpreter: Any) -> None:
        self._interpreter = interpreter
        self._inputs = {_alias(d["name"]): d for d in interpreter.get_input_details()}
        self._outputs = {_alias(d["name"]): d for d in interpreter.get_output_details()}
        self._shapes: dict[str, tuple[int, ...]] = {}  # as last allocated

    def get_input_details(self) -> dict[str, dict[str, Any]]:
        return self._inputs

    def get_output_details(self) -> dict[str, dict[str, Any]]:
        return self._outputs

    def __call__(self, **feeds: np.ndarray) -> dict[str, np.ndarray]:
        interpreter = self._interpreter
        shapes = {alias: tuple(value.shape) for alias, value in feeds.items()}
        if shapes != self._shapes:
            for alias, shape in shapes.items():
                interpreter.resize_tensor_input(self._inputs[alias]["index"], shape,
                                                strict=False)
            interpreter.allocate_tensors()
            self._shapes = shapes
        for alias, value in feeds.items():
            interpreter.set_tensor(self._inputs[alias]["index"], value)
        interpreter.invoke()
        return {alias: interpreter.get_tensor(d["index"]) for alias, d in self._outputs.items()}


def _alias(tensor_name: str) -> str:
    return tensor_name.rsplit(":", 1)[0] if tensor_name.rsplit(":", 1)[-1].isdigit() \
        else tensor_name
