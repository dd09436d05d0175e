"""2-D convolutions: `Conv2D` (conv + activation + optional pooling) and `Conv2DStack`."""

from __future__ import annotations

from typing import Any

from liveri.train.layers.activations import Activate
from liveri.train.layers.base_layer import BaseLayer

from liveri.lazy import tf
from liveri.params import Params


class Conv2D(BaseLayer):
    """NHWC convolution with a [h, w, in, out] filter, activation, then optional max/avg pool."""

    ACTIVATIONS = ("input",)  # what the int8 convolution reads

    @classmethod
    def Params(cls) -> Params:
        p = super().Params()
        p.Define("filter_shape", (3, 3, 1, 8), "Filter shape (height, width, in, out).")
        p.Define("filter_stride", (1, 1), "Stride (height, width).")
        p.Define("padding", "SAME", "SAME or VALID.")
        p.Define("activation", "relu", "Activation after the convolution.")
        p.Define("pooling", "none", "none, max or avg: pooling after the activation.")
        p.Define("pool_size", (2, 2), "Pooling window and stride (height, width).")
        return p

    def __init__(self, params: Params, path: str | None = None) -> None:
        super().__init__(params, path)
        p = self.params
        if len(p.filter_shape) != 4:
            raise ValueError(f"{self.path}: filter_shape must be (h, w, in, out)")
        if p.padding not in ("SAME", "VALID"):
            raise ValueError(f"{self.path}: padding must be SAME or VALID, got {p.padding!r}")
        if p.pooling not in ("none", "max", "avg"):
            raise ValueError(f"{self.path}: pooling must be none, max or avg, got {p.pooling!r}")
        self.w = self.CreateVariable("w", p.filter_shape)
        self.b = self.CreateVariable("b", (p.filter_shape[-1],), init="zeros")

    def FProp(self, x: Any) -> Any:
        p = self.params
        x = self.QAct("input", self.CastToCompute(x))
        y = tf.nn.conv2d(x, self.NoisyWeight(self.w), strides=(1, *p.filter_stride, 1),
                         padding=p.padding)
        y = Activate(p.activation, y + self.NoisyWeight(self.b))
        if p.pooling == "max":
            y = tf.nn.max_pool2d(y, p.pool_size, p.pool_size, "SAME")
        elif p.pooling == "avg":
            y = tf.nn.avg_pool2d(y, p.pool_size, p.pool_size, "SAME")
        return y

    def OutputShape(self, height: int, width: int) -> tuple[int, int, int]:
        """(height, width, channels) of the output for an input of height x width."""
        p = self.params

        def out(n: int, k: int, s: int) -> int:
            return -(-n // s) if p.padding == "SAME" else (n - k) // s + 1

        h = out(height, p.filter_shape[0], p.filter_stride[0])
        w = out(width, p.filter_shape[1], p.filter_stride[1])
        if p.pooling != "none":
            h, w = -(-h // p.pool_size[0]), -(-w // p.pool_size[1])
        return h, w, p.filter_shape[-1]


class Conv2DStack(BaseLayer):
    """Conv2D layers applied in order; each layer's params in `convs`."""

    @classmethod
    def Params(cls) -> Params:
        p = super().Params()
        p.Define("channels", (16, 32), "Output channels of each convolution.", type=tuple)
        p.Define("input_channels", 1, "Channels of the input.")
        p.Define("kernel", (3, 3), "Kernel (height, width) of every convolution.")
        p.Define("strides", (1, 1), "Stride (height, width) of every convolution.")
        p.Define("activation", "relu", "Activation after every convolution.")
        p.Define("pooling", "max", "none, max or avg after every convolution.")
        return p

    def __init__(self, params: Params, path: str | None = None) -> None:
        super().__init__(params, path)
        p = self.params
        in_ch = p.input_channels
        self.convs = []
        for i, out_ch in enumerate(p.channels):
            conv_p = Conv2D.Params().Set(
                filter_shape=(*p.kernel, in_ch, out_ch), filter_stride=p.strides,
                activation=p.activation, pooling=p.pooling,
            )
            self.convs.append(self.CreateChild(f"conv_{i}", conv_p))
            in_ch = out_ch

    def FProp(self, x: Any) -> Any:
        for conv in self.convs:
            x = conv(x)
        return x

    def OutputShape(self, height: int, width: int) -> tuple[int, int, int]:
        channels = self.params.input_channels
        for conv in self.convs:
            height, width, channels = conv.OutputShape(height, width)
        return height, width, channels
