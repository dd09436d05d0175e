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

from liveri.train.layers.base_layer import BaseLayer
from liveri.train.layers.conv import Conv2D, Conv2DStack
from liveri.train.layers.dropout import Dropout
from liveri.train.layers.linear import FeedForward, Linear

__all__ = ["BaseLayer", "Conv2D", "Conv2DStack", "Dropout", "FeedForward", "Linear"]
