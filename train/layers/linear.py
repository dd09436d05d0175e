"""Fully connected layers: `Linear` (an affine map) and `FeedForward` (Linear + activation +
dropout, optionally residual)."""

from __future__ import annotations

from typing import Any

from liveri.train.layers.activations import Activate
from liveri.train.layers.base_layer import BaseLayer
from liveri.train.layers.dropout import Dropout

from liveri.lazy import tf
from liveri.params import Params


def MatmulLastAxis(x: Any, w: Any, transpose_w: bool = False) -> Any:
    """x [..., i] times w [i, o] (or w [o, i] transposed) -> [..., o].

    A reshape to 2-D and one matmul: `tf.einsum("...i,io->...o")` computes the same forward,
    but its gradient broadcasts to [..., i, o] and is hundreds of times slower on CPU.
    """
    if x.shape.rank == 2:
        return tf.linalg.matmul(x, w, transpose_b=transpose_w)
    shape = tf.shape(x)
    out_dims = w.shape[0] if transpose_w else w.shape[-1]
    y = tf.linalg.matmul(tf.reshape(x, [-1, shape[-1]]), w, transpose_b=transpose_w)
    return tf.reshape(y, tf.concat([shape[:-1], [out_dims]], 0))


class Linear(BaseLayer):
    """y = x W + b over the last axis."""

    ACTIVATIONS = ("input",)  # what the int8 matmul reads

    @classmethod
    def Params(cls) -> Params:
        p = super().Params()
        p.Define("input_dims", 0, "Size of the input's last axis.")
        p.Define("output_dims", 0, "Size of the output's last axis.")
        p.Define("use_bias", True, "Add a learned bias.")
        return p

    def __init__(self, params: Params, path: str | None = None) -> None:
        super().__init__(params, path)
        p = self.params
        if p.input_dims <= 0 or p.output_dims <= 0:
            raise ValueError(f"{self.path}: input_dims and output_dims must be positive")
        self.w = self.CreateVariable("w", (p.input_dims, p.output_dims))
        self.b = self.CreateVariable("b", (p.output_dims,), init="zeros") if p.use_bias else None

    def FProp(self, x: Any) -> Any:
        x = self.QAct("input", self.CastToCompute(x))
        y = MatmulLastAxis(x, self.NoisyWeight(self.w))
        if self.b is not None:
            y = y + self.NoisyWeight(self.b)
        return y


class FeedForward(BaseLayer):
    """Linear, activation and dropout; residual when input and output sizes match and asked."""

    @classmethod
    def Params(cls) -> Params:
        p = super().Params()
        p.Define("input_dims", 0, "Size of the input's last axis.")
        p.Define("output_dims", 0, "Size of the output's last axis.")
        p.Define("activation", "relu", "Activation after the affine map (see activations.NAMES).")
        p.Define("dropout", Dropout.Params(), "Dropout after the activation.")
        p.Define("residual", False, "Add the input to the output (needs input_dims == output_dims).")
        return p

    def __init__(self, params: Params, path: str | None = None) -> None:
        super().__init__(params, path)
        p = self.params
        if p.residual and p.input_dims != p.output_dims:
            raise ValueError(f"{self.path}: residual needs input_dims == output_dims")
        self.linear = self.CreateChild(
            "linear", Linear.Params().Set(input_dims=p.input_dims, output_dims=p.output_dims)
        )
        self.dropout = self.CreateChild("dropout", p.dropout)

    def FProp(self, x: Any, training: bool = False) -> Any:
        y = self.dropout(Activate(self.params.activation, self.linear(x)), training=training)
        return y + self.CastToCompute(x) if self.params.residual else y
