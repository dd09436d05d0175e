"""A latent vector to a small image map: what a VAE's decoder and a GAN's generator share.

latent [N, D] -> feed-forward -> feed-forward to a [H/2, W/2, C] map -> depth-to-space (which
doubles the resolution and quarters the channels) -> a 3x3 conv to [N, H, W, output_channels].
Depth-to-space rather than a transposed conv: no checkerboard overlap, and TFLite and ONNX
both convert it.
"""

from __future__ import annotations

from typing import Any

from liveri.train.layers.base_layer import BaseLayer
from liveri.train.layers.conv import Conv2D
from liveri.train.layers.linear import FeedForward

from liveri.lazy import tf
from liveri.params import Params


class ImageDecoder(BaseLayer):
    @classmethod
    def Params(cls) -> Params:
        p = super().Params()
        p.Define("latent_dims", 16, "Size of the latent vector.")
        p.Define("hidden_dims", 256, "Width of the hidden feed-forward layer.")
        p.Define("image_height", 8, "Output height in pixels (even).")
        p.Define("image_width", 8, "Output width in pixels (even).")
        p.Define("channels", 32, "Channels of the half-resolution map (a multiple of 4).")
        p.Define("output_channels", 1, "Channels of the output map (e.g. logits per level).")
        return p

    def __init__(self, params: Params, path: str | None = None) -> None:
        super().__init__(params, path)
        p = self.params
        if p.image_height % 2 or p.image_width % 2:
            raise ValueError(f"{self.path}: image_height and image_width must be even (the "
                             f"decoder doubles a half-size map), got "
                             f"{p.image_height}x{p.image_width}")
        if p.channels % 4:
            raise ValueError(f"{self.path}: channels must be a multiple of 4 (depth-to-space "
                             f"quarters them), got {p.channels}")
        self.half_shape = (p.image_height // 2, p.image_width // 2, p.channels)
        self.hidden = self.CreateChild("hidden", FeedForward.Params().Set(
            input_dims=p.latent_dims, output_dims=p.hidden_dims))
        self.map = self.CreateChild("map", FeedForward.Params().Set(
            input_dims=p.hidden_dims,
            output_dims=self.half_shape[0] * self.half_shape[1] * self.half_shape[2]))
        self.out = self.CreateChild("out", Conv2D.Params().Set(
            filter_shape=(3, 3, p.channels // 4, p.output_channels), activation="none"))

    def FProp(self, z: Any) -> Any:
        """Latents [N, latent_dims] -> [N, H, W, output_channels] (float32, no activation)."""
        x = self.map(self.hidden(z))
        x = tf.nn.depth_to_space(tf.reshape(x, (-1, *self.half_shape)), 2)
        return tf.cast(self.out(x), tf.float32)
