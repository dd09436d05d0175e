"""What every latent -> image model exports: the VAE's decoder and the GAN's generator.

Both answer a latent [N, latent_dims] with an image whose pixels are levels 0..pixel_max like
the training scans (kind `latent_image` in `liveri.artifact.kinds`); `serving_default` answers
uint8 levels, `features` the float levels TFLite and ONNX convert. A subclass says how a latent
becomes levels (`GeneratePixels`) and may add signatures.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from liveri.train.tasks.conv_image import ConvImageTask

from liveri.lazy import tf
from liveri.params import Params


class ImageGeneratorTask(ConvImageTask):
    input_kind = "latent"

    @classmethod
    def Params(cls) -> Params:
        p = super().Params()
        p.Define("latent_dims", 16, "Size of the latent, drawn from N(0, I) to generate.")
        return p

    def __init__(self, params: Params, path: str | None = None) -> None:
        super().__init__(params, path)
        p = self.params
        if p.pixel_max < 1 or p.pixel_max != int(p.pixel_max):
            raise ValueError(f"{self.path}: pixel_max must be a whole number >= 1 (pixels take "
                             f"the levels 0..pixel_max), got {p.pixel_max}")

    def GeneratePixels(self, latent: Any) -> Any:
        """Latents [N, latent_dims] -> float levels in [0, pixel_max], [N, H, W]."""
        raise NotImplementedError

    def ServeFeatures(self, latent: Any) -> dict[str, Any]:
        return {"pixels": self.GeneratePixels(latent)}

    def ExportSignatures(self, inp: Any) -> dict[str, Any]:
        def Serve(latent: Any) -> dict[str, Any]:
            return {"pixels": tf.cast(tf.round(self.GeneratePixels(latent)), tf.uint8)}

        latent = tf.TensorSpec([None, self.params.latent_dims], tf.float32, "latent")
        return {"serving_default": tf.function(Serve, input_signature=[latent]),
                "features": tf.function(self.ServeFeatures, input_signature=[latent])}

    def PreprocessingSpec(self, inp: Any) -> dict[str, Any]:
        return {"kind": "latent", "raw_input": {"name": "latent",
                                                "shape": [self.params.latent_dims],
                                                "dtype": "float32", "prior": "N(0, I)"}}

    def PostprocessingSpec(self, inp: Any) -> dict[str, Any]:
        return {"kind": "generate_image", "scores_output": "pixels",
                "pixel_max": int(self.params.pixel_max),
                "answer": "pixels: each pixel's level (0..pixel_max)"}

    def AssetFiles(self, inp: Any) -> dict[str, str]:
        return {}


def in_chunks(fn: Any, x: np.ndarray, size: int = 256) -> np.ndarray:
    """`fn` (a TensorFlow computation) over `x` in chunks of `size`, joined as one array."""
    return np.concatenate([np.asarray(fn(x[i:i + size])) for i in range(0, len(x), size)])
