"""Liveri's layer library: every layer shares `base_layer.BaseLayer`'s interface.

The layers, each in the file its name suggests:

- `Linear`, `FeedForward` (linear.py), `Dropout`, `Conv2D`, `Conv2DStack` (conv.py)
- `LayerNorm`, `BatchNorm` (normalization.py)
- `Embedding`; `Softmax` and `SharedSoftmax` (one table embeds and scores), `SmoothLabels`
- `SinusoidalPositionEmbedding`, `LearnedPositionEmbedding` (position.py)
- `MultiHeadAttention`: self/cross, padding and causal masks, `InitCache`/`ExtendStep`
- `TransformerEncoderLayer`/`TransformerEncoder`, `TransformerDecoderLayer`/`TransformerDecoder`
- `LstmStack` (lstm.py): uni- or bidirectional, stacked, padding-aware, TFLite-convertible
- `CtcLoss` (greedy and prefix-beam decoding), `BeamSearch` (over any `ExtendStep`)
- variational weight noise: the `vn` base params and `VariationalNoiseStep(step)`
- keras_qat.py: `Annotated(params)` puts any layer into a tf_keras model for tfmot QAT

Conventions: paddings are float [B, T] with 1.0 at padded positions; padded positions never
change the outputs of real ones. Compute runs in `fprop_dtype`, weights stay in `dtype`.

Writing a layer:

    class Scale(BaseLayer):
        '''Learned per-channel scale: why it exists goes here.'''

        @classmethod
        def Params(cls) -> Params:
            p = super().Params()
            p.Define("dims", 0, "Size of the last axis.")
            return p

        def __init__(self, params: Params, path: str | None = None) -> None:
            super().__init__(params, path)
            self.scale = self.CreateVariable("scale", (self.params.dims,), init="ones")

        def FProp(self, x: Any) -> Any:
            return self.CastToCompute(x) * self.NoisyWeight(self.scale)

Knobs are declared once in `Params()`; children come from `CreateChild(name, child_params)`
(which passes dtype, init, seed and `vn` down unless the child set them); `FProp` only
computes. Read weights with `NoisyWeight` (projections: variational noise applies in training)
or `Weight` (never noisy). Import TensorFlow only as `from liveri.lazy import tf`, so building
params never imports it; use `tf.expand_dims`/`tf.reshape` rather than `tf.newaxis` indexing
(that needs a select TF op in TFLite). Test shapes and dtypes, padding invariance, gradients,
params round trip and, for layers meant for devices, TFLite parity.
"""

from liveri.train.layers.attention import MultiHeadAttention
from liveri.train.layers.base_layer import BaseLayer
from liveri.train.layers.beam_search import BeamSearch
from liveri.train.layers.conv import Conv2D, Conv2DStack
from liveri.train.layers.ctc import CtcLoss
from liveri.train.layers.dropout import Dropout
from liveri.train.layers.embedding import Embedding
from liveri.train.layers.linear import FeedForward, Linear
from liveri.train.layers.lstm import LstmCell, LstmStack
from liveri.train.layers.normalization import BatchNorm, LayerNorm
from liveri.train.layers.position import LearnedPositionEmbedding, SinusoidalPositionEmbedding
from liveri.train.layers.softmax import SharedSoftmax, SmoothLabels, Softmax
from liveri.train.layers.transformer import (
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)
from liveri.train.layers.variational_noise import Step as VariationalNoiseStep

__all__ = [
    "BaseLayer", "BatchNorm", "BeamSearch", "Conv2D", "Conv2DStack", "CtcLoss", "Dropout",
    "Embedding", "FeedForward", "LayerNorm", "LearnedPositionEmbedding", "Linear", "LstmCell",
    "LstmStack", "MultiHeadAttention", "SharedSoftmax", "SinusoidalPositionEmbedding",
    "SmoothLabels", "Softmax", "TransformerDecoder", "TransformerDecoderLayer",
    "TransformerEncoder", "TransformerEncoderLayer", "VariationalNoiseStep",
]
