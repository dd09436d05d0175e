"""Per-layer error of full-int8 TFLite against float, and int8 with chosen layers kept in float,
by TFLite's QuantizationDebugger.

The debugger builds the int8 model with a NumericVerify op after each quantized layer: it runs
the layer's float op on the dequantized int8 inputs and compares it with the int8 output. For
each layer we keep its RMSE (the square root of the debugger's mean squared error), the output
quantization scale, RMSE / scale (1/sqrt(12), about 0.29, is a layer whose only error is
rounding to its scale; much more means its range or its inputs hurt it), and the layer's share
of the squared error summed over every layer. `export` keeps every layer in parity.json; the
run and release reports show the ten worst by RMSE / scale. When int8 misses its budget,
`export` keeps the layers with the largest share of the squared error in float
(`model_keeping_float`: the debugger's `denylisted_nodes`, named by the layers' output
tensors) from the same calibration.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from liveri.lazy import tf

DEBUG_EXAMPLES = 64


class Int8Debugger:
    """One full-int8 conversion of `signature`, calibrated on `calibration` (whose first
    `examples` also feed the debugger); `fully_quantize`: int8 inputs and outputs."""

    def __init__(self, saved_model_dir: str, signature: str,
                 calibration: Callable[[], Iterator[dict[str, np.ndarray]]],
                 fully_quantize: bool, examples: int = DEBUG_EXAMPLES) -> None:
        converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir,
                                                             signature_keys=[signature])
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = calibration
        self.samples = [s for _, s in zip(range(examples), calibration())]
        order: list[str] = []  # the inputs in the order of the model's input tensors

        def debug_dataset() -> Iterator[list[np.ndarray]]:
            for sample in self.samples:
                yield [sample[name] for name in order]

        self._fully_quantize = fully_quantize
        self._debugger = tf.lite.experimental.QuantizationDebugger(
            converter=converter, debug_dataset=debug_dataset,
            debug_options=self._options([]))
        order += _input_order(self._debugger.get_nondebug_quantized_model(), signature)

    def _options(self, keep_float: list[str]) -> Any:
        return tf.lite.experimental.QuantizationDebugOptions(
            denylisted_nodes=keep_float or None, fully_quantize=self._fully_quantize)

    def layers(self) -> dict[str, Any]:
        """{"layers": [...], worst first by RMSE / scale, "examples": n, "doc": ...}."""
        self._debugger.run()
        dump = io.StringIO()
        self._debugger.layer_statistics_dump(dump)
        dump.seek(0)
        layers = [_layer(row) for row in csv.DictReader(dump)]
        total = sum(layer["mean_squared_error"] for layer in layers) or 1.0
        for layer in layers:
            layer["share_of_squared_error"] = round(layer["mean_squared_error"] / total, 4)
        layers.sort(key=lambda layer: -layer["rmse_over_scale"])
        return {"examples": len(self.samples), "layers": layers,
                "doc": "per quantized layer: RMSE of its int8 output against its float op on "
                       "the same inputs, the output scale, RMSE / scale (about 0.29 when "
                       "rounding is the only error) and its share of the summed squared error; "
                       "worst first"}

    def model_keeping_float(self, tensors: list[str]) -> bytes:
        """The int8 model with the layers that output `tensors` left in float."""
        self._debugger.options = self._options(tensors)
        return self._debugger.get_nondebug_quantized_model()


def _layer(row: dict[str, str]) -> dict[str, Any]:
    mse = float(row["mean_squared_error"])
    scale = float(row["scale"])
    rmse = math.sqrt(max(mse, 0.0))
    return {"tensor": row["tensor_name"], "op": row["op_name"], "rmse": _round(rmse),
            "scale": _round(scale), "rmse_over_scale": _round(rmse / scale) if scale else 0.0,
            "mean_squared_error": mse, "max_abs_error": _round(float(row["max_abs_error"]))}


def _round(value: float) -> float:
    return float(f"{value:.4g}")


def _input_order(model: bytes, signature: str) -> list[str]:
    """The signature's input names in the order of the model's input tensors."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=model)
    position = {d["index"]: i for i, d in enumerate(interpreter.get_input_details())}
    by_name = interpreter.get_signature_runner(signature).get_input_details()
    return sorted(by_name, key=lambda name: position[by_name[name]["index"]])
