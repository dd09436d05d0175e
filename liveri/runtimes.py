"""Run exported artifacts in their own runtimes: LiteRT, onnxruntime and (imported only when a
SavedModel is opened) TensorFlow.

Each model is a call of named numpy arrays returning named numpy arrays; `liveri.artifact.runner`
puts a kind in front of it.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np


class TfliteModel:
    """A .tflite model on LiteRT; float in and out, quantizing int8 tensors as the file says."""

    def __init__(self, model: str | Path | bytes, num_threads: int = 1,
                 signature: str | None = None) -> None:
        """`signature`: which of the model's signatures to run (None: its only one)."""
        from ai_edge_litert.interpreter import Interpreter

        if isinstance(model, bytes):
            self.interpreter = Interpreter(model_content=model, num_threads=num_threads)
        else:
            self.interpreter = Interpreter(model_path=str(model), num_threads=num_threads)
        self.runner = self.interpreter.get_signature_runner(signature)
        self.inputs = self.runner.get_input_details()
        self.outputs = self.runner.get_output_details()
        # What a caller feeds: float where the model quantizes a float input itself.
        self.input_dtypes = {name: _fed_dtype(d) for name, d in self.inputs.items()}
        self.output_names = list(self.outputs)

    def __call__(self, **features: np.ndarray) -> dict[str, np.ndarray]:
        feed = {}
        for name, detail in self.inputs.items():
            if name not in features:
                raise ValueError(f"input {name!r} is missing; the model takes "
                                 f"{sorted(self.inputs)}")
            feed[name] = _quantize(np.asarray(features[name]), detail)
        # The signature runner resizes inputs to the batch it is given.
        raw = self.runner(**feed)
        return {name: _dequantize(value, self.outputs[name]) for name, value in raw.items()}


def _fed_dtype(detail: dict[str, Any]) -> np.dtype:
    dtype = np.dtype(detail["dtype"])
    scale, _ = detail.get("quantization", (0.0, 0))
    return np.dtype(np.float32) if dtype in (np.int8, np.uint8) and scale else dtype


def _quantize(x: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    dtype = np.dtype(detail["dtype"])
    scale, zero = detail.get("quantization", (0.0, 0))
    if dtype in (np.int8, np.uint8) and scale:
        info = np.iinfo(dtype)
        return np.clip(np.round(x / scale + zero), info.min, info.max).astype(dtype)
    return x.astype(dtype)


def _dequantize(x: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    scale, zero = detail.get("quantization", (0.0, 0))
    if x.dtype in (np.int8, np.uint8) and scale:
        return (x.astype(np.float32) - zero) * np.float32(scale)
    return x


# The optional bool input of a translator's ONNX graph that switches it to greedy decoding
# (written by `liveri.export.onnx_convert`, fed by `OnnxModel.with_beam`).
GREEDY_INPUT = "greedy"

_ONNX_DTYPES = {f"tensor({name})": np.dtype(dtype) for name, dtype in (
    ("float", np.float32), ("double", np.float64), ("float16", np.float16), ("int8", np.int8),
    ("uint8", np.uint8), ("int16", np.int16), ("int32", np.int32), ("int64", np.int64),
    ("bool", np.bool_))}


class OnnxModel:
    """An .onnx model on onnxruntime (CPU)."""

    def __init__(self, path: str | Path, num_threads: int = 1) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = num_threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), options,
                                            providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.input_dtypes = {i.name: _ONNX_DTYPES.get(i.type, np.dtype(object))
                             for i in self.session.get_inputs()}
        # Inputs with a default in the file, which callers may leave out.
        self.optional = {i.name for i in self.session.get_overridable_initializers()}
        self.fixed: dict[str, np.ndarray] = {}

    def with_beam(self, beam_size: int) -> OnnxModel:
        """A translator's graph greedy (beam 1, its optional `greedy` input) or at its own beam
        (any other size); ValueError for a model without that input."""
        if GREEDY_INPUT not in self.optional:
            raise ValueError(f"this ONNX model decodes at one beam only (no `{GREEDY_INPUT}` "
                             "input)")
        other = copy.copy(self)
        other.fixed = {GREEDY_INPUT: np.array(beam_size == 1)}
        return other

    def __call__(self, **inputs: np.ndarray) -> dict[str, np.ndarray]:
        values = self.session.run(self.output_names, {**inputs, **self.fixed})
        return dict(zip(self.output_names, values, strict=True))


class SavedModelSignature:
    """One signature of a SavedModel, called eagerly with numpy in and out. TensorFlow is
    imported when one is opened, never by importing this module."""

    def __init__(self, path: str | Path, signature: str) -> None:
        from liveri.lazy import tf

        self._tf = tf
        loaded = tf.saved_model.load(str(path))
        self._keep = loaded  # the signature's variables live as long as the object
        self.fn = loaded.signatures[signature]
        specs = self.fn.structured_input_signature[1]
        self.input_dtypes = {name: np.dtype(spec.dtype.as_numpy_dtype)
                             for name, spec in specs.items()}

    def __call__(self, **inputs: np.ndarray) -> dict[str, np.ndarray]:
        outputs = self.fn(**{k: self._tf.constant(v) for k, v in inputs.items()})
        return {k: v.numpy() for k, v in outputs.items()}
