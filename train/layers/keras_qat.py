"""Quantization-aware training of our layers through tensorflow-model-optimization (tfmot).

tfmot only rewrites Keras 2 (`tf_keras`) models, and only layers it knows or that come with a
`QuantizeConfig`. So a BaseLayer joins a `tf_keras` functional model through `KerasLayer` (a
thin wrapper built from the layer's params, which is how tfmot clones it), annotated with
`ProjectionQuantizeConfig`: every `Linear`/`Conv2D` weight inside gets a per-tensor 8-bit
fake quantizer, and the wrapper's output a moving-average one. Other intermediate tensors are
calibrated by the converter's representative dataset when converting to full-int8 TFLite.

    os.environ["TF_USE_LEGACY_KERAS"] = "1"   # before TensorFlow is imported
    x = tf_keras.Input((8,))
    y = keras_qat.Annotated(FeedForward.Params().Set(input_dims=8, output_dims=16))(x)
    model = keras_qat.QuantizeApply(tf_keras.Model(x, y))

tf_keras and tfmot are imported on first use, so importing this module stays cheap.
"""

from __future__ import annotations

import functools
from typing import Any

from liveri.params import Params, _import_class


def QuantizedLayers(layer: Any) -> list[Any]:
    """Every Linear/Conv2D under `layer` (itself included), in a fixed order."""
    from liveri.train.layers.conv import Conv2D
    from liveri.train.layers.linear import Linear

    found = [layer] if isinstance(layer, (Linear, Conv2D)) else []
    for child in layer.children.values():
        found.extend(QuantizedLayers(child))
    return found


@functools.cache
def _Classes() -> tuple[type, type]:
    import tensorflow_model_optimization as tfmot
    import tf_keras

    quantizers = tfmot.quantization.keras.quantizers

    class KerasLayer(tf_keras.layers.Layer):
        """A tf_keras layer that runs the BaseLayer its params text describes."""

        def __init__(self, params_text: str, layer_class: str, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.params_text, self.layer_class = params_text, layer_class
            params = _import_class(layer_class).Params().FromText(params_text)
            self.layer = params.Instantiate()
            self.layer_variables = self.layer.variables  # tracked, so Keras trains them

        def call(self, inputs: Any, training: Any = None) -> Any:
            return self.layer.FProp(inputs)

        def get_config(self) -> dict[str, Any]:
            return dict(super().get_config(), params_text=self.params_text,
                        layer_class=self.layer_class)

    class ProjectionQuantizeConfig(tfmot.quantization.keras.QuantizeConfig):
        """8-bit weights of every projection inside a KerasLayer, and 8-bit outputs."""

        def get_weights_and_quantizers(self, layer: Any) -> list[tuple[Any, Any]]:
            return [(inner.w, quantizers.LastValueQuantizer(
                num_bits=8, symmetric=True, narrow_range=False, per_axis=False))
                for inner in QuantizedLayers(layer.layer)]

        def get_activations_and_quantizers(self, layer: Any) -> list:
            return []

        def set_quantize_weights(self, layer: Any, quantize_weights: list[Any]) -> None:
            # FProp reads `self.w`; during the wrapped call it reads the fake-quantized weight.
            for inner, weight in zip(QuantizedLayers(layer.layer), quantize_weights):
                inner.w = weight

        def set_quantize_activations(self, layer: Any, quantize_activations: list) -> None:
            pass

        def get_output_quantizers(self, layer: Any) -> list[Any]:
            return [quantizers.MovingAverageQuantizer(
                num_bits=8, per_axis=False, symmetric=False, narrow_range=False)]

        def get_config(self) -> dict[str, Any]:
            return {}

    return KerasLayer, ProjectionQuantizeConfig


def KerasLayer(params: Params, **kwargs: Any) -> Any:
    """A tf_keras layer running the layer `params` describe."""
    cls = params.cls
    return _Classes()[0](params.ToText(), f"{cls.__module__}.{cls.__qualname__}", **kwargs)


def Annotated(params: Params, **kwargs: Any) -> Any:
    """`KerasLayer(params)` marked for quantization-aware training."""
    import tensorflow_model_optimization as tfmot

    return tfmot.quantization.keras.quantize_annotate_layer(
        KerasLayer(params, **kwargs), _Classes()[1]())


def QuantizeApply(model: Any) -> Any:
    """The QAT version of a tf_keras model whose Liveri layers were made with `Annotated`."""
    import tensorflow_model_optimization as tfmot

    keras_layer, config = _Classes()
    scope = {keras_layer.__name__: keras_layer, config.__name__: config}
    with tfmot.quantization.keras.quantize_scope(scope):
        return tfmot.quantization.keras.quantize_apply(model)
