"""Quantization-aware fine-tuning before the full-int8 conversion (`export.qat_steps`).

The trained task is wrapped whole in tfmot's `QuantizeWrapperV2`: every Linear/Conv2D weight
under it computes through an 8-bit fake quantizer, and with `export.qat_activations` so does
every activation the shared layers name (qat_activations.py), both in the loss it fine-tunes on
(the task's own `ComputeLoss` on its training input) and in the `features` function saved
afterwards. The converter takes those ranges from the FakeQuant ops and calibrates every other
tensor on training examples, as the post-training int8 path does. The SavedModel (not
concrete functions) is what it converts from: calibration fails on concrete functions that hold
variables.

tfmot rewrites Keras 2 layers only, so the wrapper is a `tf_keras` layer; the rest of export
does not use Keras, so this runs in the exporting process.
"""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from liveri.export import tflite
from liveri.export.qat_activations import ActivationQuantizers
from liveri.train.layers.keras_qat import QuantizedLayers
from liveri.train.progress import Progress

from liveri.lazy import tf
from liveri.params import Params

FORMAT = "tflite_int8_qat"


@functools.cache
def _classes() -> tuple[type, type]:
    import tensorflow_model_optimization as tfmot
    import tf_keras
    from liveri.train.layers.conv import Conv2D

    quantizers = tfmot.quantization.keras.quantizers

    class TaskLayer(tf_keras.layers.Layer):
        """A whole task as one Keras layer: its loss on a batch, or its `features` outputs."""

        def __init__(self, task: Any, activations: bool, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.task = task
            self.task_variables = task.variables  # tracked, so the wrapper trains them
            self.activations = ActivationQuantizers(task, self) if activations else None

        def call(self, inputs: dict[str, Any], training: Any = None) -> Any:
            if self.activations:
                self.activations.Begin(training="batch" in inputs)  # the loss trains ranges
            if "batch" in inputs:
                return self.task.ComputeLoss(inputs["batch"], training=True)[0]
            return self.task.ServeFeatures(**inputs["features"])

    class WeightsQuantizeConfig(tfmot.quantization.keras.QuantizeConfig):
        """Every projection weight of the task in 8 bits as tfmot's default scheme has them
        (symmetric, -127..127; per output channel for convolutions, per tensor for matmuls,
        whose per-axis ranges the converter cannot carry through its transpose); activations
        are left to the converter's calibration (a task's outputs are not one tensor)."""

        def get_weights_and_quantizers(self, layer: Any) -> list[tuple[Any, Any]]:
            return [(inner.w, quantizers.LastValueQuantizer(
                num_bits=8, symmetric=True, narrow_range=True,
                per_axis=isinstance(inner, Conv2D)))
                for inner in QuantizedLayers(layer.task)]

        def get_activations_and_quantizers(self, layer: Any) -> list:
            return []

        def set_quantize_weights(self, layer: Any, quantize_weights: list[Any]) -> None:
            for inner, weight in zip(QuantizedLayers(layer.task), quantize_weights):
                inner.w = weight  # FProp reads `self.w`: the fake-quantized weight for this call

        def set_quantize_activations(self, layer: Any, quantize_activations: list) -> None:
            pass

        def get_output_quantizers(self, layer: Any) -> list:
            return []

        def get_config(self) -> dict[str, Any]:
            return {}

    return TaskLayer, WeightsQuantizeConfig


def wrap(task: Any, activations: bool = False) -> Any:
    """The task inside tfmot's QuantizeWrapperV2: weights fake-quantized on every call, and
    with `activations` every activation the task's layers name (ranges still at tfmot's +-6:
    see `calibrate_activations`)."""
    import tensorflow_model_optimization as tfmot

    task_layer, config = _classes()
    if not QuantizedLayers(task):
        raise ValueError(f"{type(task).__name__} has no Linear or Conv2D layer to quantize")
    return tfmot.quantization.keras.QuantizeWrapperV2(task_layer(task, activations), config())


def calibrate_activations(wrapper: Any, batches: Iterator[dict[str, Any]], count: int) -> int:
    """Start every activation range at what `count` training batches show (eager, no
    dropout); the number of tensors calibrated."""
    task, activations = wrapper.layer.task, wrapper.layer.activations
    batch_list = [next(batches) for _ in range(count)]
    return activations.Calibrate(lambda b: task.ComputeLoss(b, training=False), batch_list)


def fine_tune(wrapper: Any, batches: Iterator[dict[str, Any]], steps: int,
              learning_rate: float, clip_norm: float = 0.0, batch_size: int = 1) -> list[float]:
    """`steps` Adam steps of the wrapped task's loss under fake quantization, progress shown
    every tenth; the losses."""
    import tf_keras

    task = wrapper.layer.task
    optimizer = tf_keras.optimizers.Adam(learning_rate)
    variables = task.trainable_variables

    @tf.function(reduce_retracing=True)  # text batches vary in length
    def step(batch: dict[str, Any]) -> Any:
        with tf.GradientTape() as tape:
            loss = wrapper({"batch": batch}, training=True)
        grads = tape.gradient(loss, variables)
        if clip_norm > 0:
            grads, _ = tf.clip_by_global_norm(grads, clip_norm)
        optimizer.apply_gradients(zip(grads, variables))
        return loss

    progress, every, losses = Progress(0, steps, batch_size, "qat"), max(1, steps // 10), []
    for i in range(1, steps + 1):
        losses.append(float(step(next(batches))))
        if i % every == 0 or i == steps:
            progress.update(i, float(np.mean(losses[-every:])))
    progress.close()
    return losses


def save_features(wrapper: Any, features_fn: Any, export_dir: str) -> None:
    """A SavedModel whose `features` signature runs the task through the wrapper's quantizers
    (inputs as `features_fn`, the task's own `features` tf.function, declares them)."""
    specs = list(features_fn.input_signature)

    def features(*args: Any) -> Any:
        return wrapper({"features": {s.name: a for s, a in zip(specs, args)}}, training=False)

    module = tf.Module(name="liveri_qat")
    module.qat_variables = list(wrapper.weights)
    fn = tf.function(features, input_signature=specs).get_concrete_function()
    tf.saved_model.save(module, export_dir, signatures={"features": fn})


def convert(params: Params, task: Any, inp: Any,
            calibration: Callable[[], Iterator[dict[str, np.ndarray]]],
            float_inputs: bool) -> tuple[bytes, dict[str, Any]]:
    """(full-int8 .tflite of `task` after `export.qat_steps` QAT steps, notes for the manifest).

    `task` is fine-tuned in place: pass a copy the rest of export does not use.
    """
    p, t = params.export, params.train
    wrapper = wrap(task, p.qat_activations)
    dataset = inp.Dataset("train", t.batch_size, training=True, seed=t.seed)
    batches = iter(dataset)
    calibrated = calibrate_activations(wrapper, batches, 8) if p.qat_activations else 0
    losses = fine_tune(wrapper, batches, p.qat_steps, p.qat_learning_rate, t.clip_gradient_norm,
                       t.batch_size)
    with tempfile.TemporaryDirectory(prefix="liveri-qat-") as tmp:
        save_features(wrapper, task.ExportSignatures(inp)["features"], tmp)
        content, notes = tflite.convert(tmp, "tflite_int8", ["features"], calibration,
                                        float_inputs=float_inputs)
    tenth = max(1, len(losses) // 10)
    notes["qat"] = {"steps": p.qat_steps, "learning_rate": p.qat_learning_rate,
                    "batch_size": t.batch_size, "fake_quantized_activations": calibrated,
                    "loss_first_tenth": float(np.mean(losses[:tenth])),
                    "loss_last_tenth": float(np.mean(losses[-tenth:]))}
    return content, notes
