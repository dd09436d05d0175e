"""TFLite conversions of the exported SavedModel's `features` signature.

float, dynamic-range (int8 weights), full int8 (calibrated on training examples, int8 in and
out) and float16 weights. Converting from the SavedModel (not from concrete functions) is what
makes full-int8 calibration work on models holding variables.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from liveri.lazy import tf

TFLITE_FORMATS = ("tflite_float", "tflite_dynamic", "tflite_int8", "tflite_fp16")


def convert(saved_model_dir: str, fmt: str, signature: str,
            calibration: Callable[[], Iterator[list[np.ndarray]]] | None = None) -> bytes:
    """The .tflite flatbuffer of `signature` in format `fmt`."""
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir, signature_keys=[signature])
    if fmt == "tflite_float":
        pass
    elif fmt == "tflite_dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif fmt == "tflite_fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif fmt == "tflite_int8":
        if calibration is None:
            raise ValueError("tflite_int8 needs calibration examples")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = calibration
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    else:
        raise ValueError(f"format: expected one of {TFLITE_FORMATS}, got {fmt!r}")
    return converter.convert()


def tensor_specs(model_content: bytes) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Input and output specs (name, dtype, shape, quantization) as LiteRT reads them."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=model_content)
    runner = interp.get_signature_runner()
    inputs = runner.get_input_details()
    outputs = runner.get_output_details()

    def spec(name: str, d: dict[str, Any]) -> dict[str, Any]:
        scale, zero = d.get("quantization", (0.0, 0))
        return {"name": name, "dtype": np.dtype(d["dtype"]).name,
                "shape": [int(x) for x in d["shape_signature"]],
                "quantization": {"scale": float(scale), "zero_point": int(zero)}}

    return ([spec(n, d) for n, d in inputs.items()], [spec(n, d) for n, d in outputs.items()])
