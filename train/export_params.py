"""The `export` section: which artifacts `liveri export` writes and on what it checks them."""

from __future__ import annotations

from liveri.artifact import formats
from liveri.params import Params


def ExportParams() -> Params:
    p = Params()
    p.Define("formats", list(formats.DEFAULT),
             "Artifacts to write (saved_model is always written).")
    p.Define("calibration_examples", 200, "Training examples that calibrate full-int8 TFLite.")
    p.Define("parity_examples", 0, "Held-out examples the parity report uses; 0: all of them.")
    p.Define("qat_steps", 0, "Quantization-aware fine-tuning steps (tfmot) before a second "
             "full-int8 TFLite, tflite_int8_qat, beside the post-training one; 0: off.")
    p.Define("qat_activations", False, "QAT also fake-quantizes the activations the layers "
             "name (BaseLayer.ACTIVATIONS), ranges learned; False: weights only (docs/int8.md: "
             "neither wins on both sequence models).")
    p.Define("qat_learning_rate", 1e-4, "Adam learning rate of the quantization-aware steps.")
    p.Define("int8_max_float_layers", 16, "When full int8 misses release.max_int8_metric_drop, "
             "keep at most this many of its worst layers in float (0: never).")
    p.Define("onnx_opset", 17, "ONNX opset of the tf2onnx conversion.")
    p.Define("warmup_requests", 4, "Warmup requests written to assets.extra.")
    return p
