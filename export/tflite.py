"""TFLite conversions of the exported SavedModel's `features` signature.

float, dynamic-range (int8 weights), full int8 (calibrated on training examples, int8 in and
out), float16 weights, and int16x8: int8 weights with int16 activations, calibrated like int8
but with float inputs and outputs (TFLite's 16x8 mode: 256 times finer activations, for models
whose full int8 costs quality; docs/int8.md). Converting from the SavedModel (not from concrete
functions) is what makes calibration work on models holding variables.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from liveri.lazy import tf

# Formats whose activations are quantized from calibration: the kernels they ask for, and the
# type of their inputs and outputs where those are float (None: they stay float).
CALIBRATED: dict[str, tuple[Callable[[], Any], Callable[[], Any] | None]] = {
    "tflite_int8": (lambda: tf.lite.OpsSet.TFLITE_BUILTINS_INT8, lambda: tf.int8),
    "tflite_int16x8": (
        lambda: tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8, None),
}


def convert(saved_model_dir: str, fmt: str, signatures: list[str],
            calibration: Callable[[], Iterator[dict[str, np.ndarray]]] | None = None,
            float_inputs: bool = True) -> tuple[bytes, dict[str, Any]]:
    """(.tflite flatbuffer of `signatures` in format `fmt`, notes for the manifest).

    Full int8 asks for int8 kernels only, with int8 inputs and outputs where they are float;
    `float_inputs` says whether every input of `signature` is float (ids stay int32). A model
    with ops that have no int8 (or 16x8) kernel falls back to float kernels for those ops, and
    the notes say so (`fully_int8: false`, `fully_int16x8: false`).
    """
    notes: dict[str, Any] = {"select_tf_ops": False}

    def converter() -> Any:
        return tf.lite.TFLiteConverter.from_saved_model(saved_model_dir,
                                                        signature_keys=list(signatures))

    c = converter()
    if fmt == "tflite_float":
        return c.convert(), notes
    if fmt == "tflite_dynamic":
        c.optimizations = [tf.lite.Optimize.DEFAULT]
        return c.convert(), notes
    if fmt == "tflite_fp16":
        c.optimizations = [tf.lite.Optimize.DEFAULT]
        c.target_spec.supported_types = [tf.float16]
        return c.convert(), notes
    if fmt not in CALIBRATED:
        raise ValueError(f"format: expected one of tflite_float, tflite_dynamic, tflite_fp16, "
                         f"{' or '.join(CALIBRATED)}, got {fmt!r}")
    if calibration is None:
        raise ValueError(f"{fmt} needs calibration examples")
    quantized_ops, io_type = CALIBRATED[fmt]

    def calibrated(c: Any, ops: list[Any]) -> Any:
        c.optimizations = [tf.lite.Optimize.DEFAULT]
        c.representative_dataset = calibration
        c.target_spec.supported_ops = ops
        return c

    c = calibrated(c, [quantized_ops()])
    if float_inputs and io_type is not None:
        c.inference_input_type = io_type()
        c.inference_output_type = io_type()
    kind = fmt.removeprefix("tflite_")  # int8, int16x8
    try:
        content = c.convert()
        notes[f"fully_{kind}"] = True
    except Exception as e:  # noqa: BLE001 (the converter raises many types for missing kernels)
        fallback = [quantized_ops(), tf.lite.OpsSet.TFLITE_BUILTINS]
        content = calibrated(converter(), fallback).convert()  # inputs and outputs stay float
        notes[f"fully_{kind}"] = False
        notes[f"{kind}_fallback_reason"] = str(e).splitlines()[0][:300]
    return content, notes


def tensor_specs(model_content: bytes) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Input and output specs (name, dtype, shape, quantization) as LiteRT reads them; with
    several signatures, each name is `signature/name`."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=model_content)
    keys = list(interp.get_signature_list())

    def spec(name: str, d: dict[str, Any]) -> dict[str, Any]:
        scale, zero = d.get("quantization", (0.0, 0))
        return {"name": name, "dtype": np.dtype(d["dtype"]).name,
                "shape": [int(x) for x in d["shape_signature"]],
                "quantization": {"scale": float(scale), "zero_point": int(zero)}}

    inputs, outputs = [], []
    for key in keys:
        runner = interp.get_signature_runner(key)
        prefix = f"{key}/" if len(keys) > 1 else ""
        inputs += [spec(prefix + n, d) for n, d in runner.get_input_details().items()]
        outputs += [spec(prefix + n, d) for n, d in runner.get_output_details().items()]
    return inputs, outputs
