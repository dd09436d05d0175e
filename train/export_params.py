"""The `export` section: which artifacts `liveri export` writes and on what it checks them."""

from __future__ import annotations

from liveri.params import Params

ALL_FORMATS = (
    "saved_model",
    "tflite_float",
    "tflite_dynamic",
    "tflite_int8",
    "tflite_fp16",
    "onnx",
)


def ExportParams() -> Params:
    p = Params()
    p.Define("formats", list(ALL_FORMATS), "Artifacts to write (saved_model is always written).")
    p.Define("calibration_examples", 200, "Training examples that calibrate full-int8 TFLite.")
    p.Define("parity_examples", 0, "Held-out examples the parity report uses; 0: all of them.")
    p.Define("onnx_opset", 17, "ONNX opset of the tf2onnx conversion.")
    p.Define("warmup_requests", 4, "Warmup requests written to assets.extra.")
    return p
