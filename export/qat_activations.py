"""Fake quantizers on the activations the shared layers name (`BaseLayer.ACTIVATIONS`).

tfmot's QuantizeWrapperV2 fake-quantizes a Keras layer's outputs, but here a whole task is one
Keras layer and the tensors that matter are inside it, so each BaseLayer names them and reads
them through `QAct` (Lingvo's QTensor). This attaches one tfmot `MovingAverageQuantizer` to each
named tensor: 8 bits, asymmetric, one range per tensor, as the converter stores an int8
activation. Its min/max variables live on the Keras layer, so they are saved with it and the
converter reads each tensor's range from its FakeQuant op instead of calibrating it.

tfmot starts every range at +-6 and moves it by 0.1% of the batch's range a step, which a few
hundred fine-tuning steps cannot correct (a residual stream spans +-30, attention weights 0..1);
so `Calibrate` first sets each range from a few batches, as the converter's calibration would.

A tensor is quantized once: a layer norm's output that three projections read as their input
keeps the layer norm's range (two FakeQuants on one tensor make the converter refuse the model:
a reshape between them must keep one scale). `Begin` starts each call's bookkeeping.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from liveri.lazy import tf


def _Layers(layer: Any) -> list[Any]:
    """`layer` and every layer under it, in a fixed order."""
    found = [layer]
    for child in layer.children.values():
        found.extend(_Layers(child))
    return found


class ActivationQuantizers:
    """Fake quantizers attached to every named activation of `task`, ranges on `keras_layer`.

    `training` says whether a call updates the ranges (moving averages) or only reads them.
    """

    def __init__(self, task: Any, keras_layer: Any) -> None:
        import tensorflow_model_optimization as tfmot

        self._quantizer = tfmot.quantization.keras.quantizers.MovingAverageQuantizer(
            num_bits=8, per_axis=False, symmetric=False, narrow_range=False)
        self.training = False
        self.ranges: dict[str, dict[str, Any]] = {}  # "layer path/name" -> min_var, max_var
        self._observed: dict[str, list[tuple[float, float]]] | None = None
        self._quantized: set[Any] = set()  # refs of this call's already quantized tensors
        for layer in _Layers(task):
            for name in layer.ACTIVATIONS:
                key = f"{layer.path}/{name}"
                self.ranges[key] = self._quantizer.build(None, key.replace("/", "."), keras_layer)
                layer.activation_quantizers[name] = functools.partial(self._Quantize, key)

    def Begin(self, training: bool) -> None:
        """A new call of the task: `training` updates the ranges, else they are only read."""
        self.training, self._quantized = training, set()

    def _Quantize(self, key: str, x: Any) -> Any:
        if x.ref() in self._quantized:
            return x
        if self._observed is not None:
            self._observed.setdefault(key, []).append(
                (float(tf.reduce_min(x)), float(tf.reduce_max(x))))
            y = x
        else:
            y = self._quantizer(x, self.training, self.ranges[key])
        self._quantized.add(y.ref())
        return y

    def Calibrate(self, run: Callable[[Any], Any], batches: Iterable[Any]) -> int:
        """Set each range to the mean min and max that eager `run(batch)` shows over `batches`
        (widened to hold 0, as tfmot's ranges do); the number of tensors seen."""
        self._observed = {}
        try:
            for batch in batches:
                self.Begin(training=False)
                run(batch)
        finally:
            observed, self._observed = self._observed, None
        for key, values in observed.items():
            low, high = np.mean(values, axis=0)
            self.ranges[key]["min_var"].assign(min(float(low), 0.0))
            self.ranges[key]["max_var"].assign(max(float(high), 0.0))
        return len(observed)
