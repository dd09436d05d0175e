"""What every task on small grey images shares: the image's size, pixel scaling, a conv stack.

The classifier and the VAE read pixels the same way; one place keeps them reading alike.
"""

from __future__ import annotations

from typing import Any

from liveri.train.layers.conv import Conv2DStack
from liveri.train.tasks.base_task import BaseTask

from liveri.lazy import tf
from liveri.params import Params


class ConvImageTask(BaseTask):
    """Pixels [N, H, W] -> features [N, H, W, 1] in [0, 1] -> `conv` -> [N, flat_dims]."""

    @classmethod
    def Params(cls) -> Params:
        p = super().Params()
        p.Define("image_height", 8, "Image height in pixels.")
        p.Define("image_width", 8, "Image width in pixels.")
        p.Define("pixel_max", 255.0, "Largest raw pixel value; features are pixels / pixel_max.")
        p.Define("conv", Conv2DStack.Params(), "Convolutional front end.")
        return p

    def __init__(self, params: Params, path: str | None = None) -> None:
        super().__init__(params, path)
        p = self.params
        self.conv = self.CreateChild("conv", p.conv)
        h, w, c = self.conv.OutputShape(p.image_height, p.image_width)
        self.flat_dims = h * w * c

    def Preprocess(self, pixels: Any) -> Any:
        """Raw pixels [N, H, W] (any numeric dtype) -> float features [N, H, W, 1] in [0, 1]."""
        return tf.expand_dims(tf.cast(pixels, tf.float32) / self.params.pixel_max, -1)

    def ConvFeatures(self, features: Any) -> Any:
        """Features [N, H, W, 1] -> the conv stack's output flattened, [N, flat_dims]."""
        return tf.reshape(self.conv(features), (-1, self.flat_dims))
