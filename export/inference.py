"""Inference functions of a trained task: what the SavedModel's signatures compute.

`serving_default` takes what a client has (raw pixels) and answers with the decoded label and
scores; `features` takes preprocessed features and is what TFLite converts (the mobile runner
applies the same preprocessing in numpy, described in the manifest).
"""

from __future__ import annotations

from typing import Any

from liveri.lazy import tf


def build_inference_module(task: Any) -> tuple[Any, dict[str, Any]]:
    """(a tf.Module holding the task's variables, {signature name: concrete function})."""
    if task.input_kind != "image":
        raise NotImplementedError(f"export of {task.input_kind!r} tasks is not built yet")
    p = task.params
    h, w = p.image_height, p.image_width

    class Module(tf.Module):
        def __init__(self) -> None:
            super().__init__(name="liveri_inference")
            self.by_path = task.VariablesByPath()

        @tf.function(input_signature=[tf.TensorSpec([None, h, w], tf.uint8, name="pixels")])
        def serve_uint8(self, pixels: Any) -> dict[str, Any]:
            return task.Serve(pixels)

        @tf.function(input_signature=[tf.TensorSpec([None, h, w], tf.float32, name="pixels")])
        def serve_float(self, pixels: Any) -> dict[str, Any]:
            return task.Serve(pixels)

        @tf.function(input_signature=[tf.TensorSpec([None, h, w, 1], tf.float32,
                                                    name="features")])
        def features(self, features: Any) -> dict[str, Any]:
            return task.ServeFeatures(features)

    module = Module()
    signatures = {
        "serving_default": module.serve_uint8.get_concrete_function(),
        "predict_float": module.serve_float.get_concrete_function(),
        "features": module.features.get_concrete_function(),
    }
    return module, signatures


def preprocessing_spec(task: Any) -> dict[str, Any]:
    """How a device turns raw input into the `features` signature's input (for bundles)."""
    p = task.params
    return {
        "kind": "image",
        "raw_input": {"name": "pixels", "shape": [p.image_height, p.image_width],
                      "dtype": "uint8 or float32", "range": [0, p.pixel_max]},
        "scale": 1.0 / p.pixel_max,
        "add_channel_axis": True,
    }


def postprocessing_spec(task: Any) -> dict[str, Any]:
    return {"kind": "classify", "scores_output": "scores", "labels_file": "labels.txt",
            "answer": "argmax of scores -> labels[class]"}
