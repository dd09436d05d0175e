"""Liveri's layer library: every layer shares `base_layer.BaseLayer`'s interface.

Writing a layer:

    class Scale(BaseLayer):
        @classmethod
        def Params(cls):
            p = super().Params()
            p.Define("dims", 0, "Size of the last axis.")
            return p

        def __init__(self, params, path=None):
            super().__init__(params, path)
            self.scale = self.CreateVariable("scale", (self.params.dims,), init="ones")

        def FProp(self, x):
            return self.CastToCompute(x) * self.Weight(self.scale)

Knobs are declared once in `Params()`; children come from `CreateChild(name, child_params)`
(which passes dtype, init and seed down); `FProp` only computes.
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
