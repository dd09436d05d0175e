"""Run exported artifacts in their own runtimes without TensorFlow: LiteRT and onnxruntime.

Shared by export's parity report, the mobile bundle runner and the benchmarks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


class TfliteModel:
    """A .tflite model on LiteRT; float in and out, quantizing int8 tensors as the file says."""

    def __init__(self, model: str | Path | bytes, num_threads: int = 1) -> None:
        from ai_edge_litert.interpreter import Interpreter

        if isinstance(model, bytes):
            self.interpreter = Interpreter(model_content=model, num_threads=num_threads)
        else:
            self.interpreter = Interpreter(model_path=str(model), num_threads=num_threads)
        self.runner = self.interpreter.get_signature_runner()
        self.inputs = self.runner.get_input_details()
        self.outputs = self.runner.get_output_details()

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

    def __call__(self, **inputs: np.ndarray) -> dict[str, np.ndarray]:
        values = self.session.run(self.output_names, inputs)
        return dict(zip(self.output_names, values, strict=True))
