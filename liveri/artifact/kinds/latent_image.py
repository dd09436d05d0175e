"""Latents to images: a generator's input is a latent vector, its answer an image.

A raw example is one latent of `dims` floats (drawn from the prior N(0, I), or an encoder's
posterior mean); the model's `pixels` output holds the image's levels 0..pixel_max (as the
training scans), which is the answer. Two artifacts agree on an example when every pixel is
equal, and the parity report's largest score difference is the largest pixel difference.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from liveri.artifact.kinds.base import Encoded, InputError, Kind, KindError, as_array


class LatentImage(Kind):
    name = "latent_image"
    postprocessing_kinds = ("generate_image",)
    input_flag = "--input-file Z.npy"

    def __init__(self, preprocessing: dict[str, Any], postprocessing: dict[str, Any],
                 files: Mapping[str, bytes]) -> None:
        super().__init__(preprocessing, postprocessing, files)
        if preprocessing.get("kind") != "latent":
            raise KindError(f"preprocessing kind {preprocessing.get('kind')!r} is not latent")
        self.raw = preprocessing["raw_input"]
        self.dims = int(self.raw["shape"][0])
        self.pixel_max = int(postprocessing["pixel_max"])

    @property
    def feature_names(self) -> tuple[str, ...]:
        return (self.raw["name"],)

    def encode(self, examples: Sequence[Any]) -> Encoded:
        """Latents [N, dims] (or a list of [dims]) -> the model's float32 `latent` input."""
        z = as_array(examples, "latent")
        if z.dtype.kind not in "uif":
            raise InputError(f"latent: expected numbers, got dtype {z.dtype}")
        if z.ndim != 2 or z.shape[1] != self.dims:
            raise InputError(f"latent: expected shape [{self.dims}] or [N, {self.dims}], got "
                             f"{list(z.shape[1:])}")
        if not np.isfinite(z).all():
            raise InputError("latent: expected finite values, got NaN or infinity")
        return Encoded({self.raw["name"]: z.astype(np.float32)}, len(z))

    def sample(self, count: int, seed: int) -> np.ndarray:
        """`count` latents from the prior N(0, I), [count, dims] float32: the one definition
        of "sample N with seed S", so a device and the SavedModel draw the same latents."""
        if count < 1:
            raise InputError(f"sample: expected a count >= 1, got {count}")
        return np.random.default_rng(seed).standard_normal((count, self.dims)).astype(np.float32)

    def batch_of_one(self, x: Any) -> list[Any]:
        x = as_array(x, "latent")
        return list(x) if x.ndim == 2 else [x]

    def decode(self, encoded: Encoded, outputs: Mapping[str, np.ndarray]) -> list[dict[str, Any]]:
        pixels = np.rint(np.asarray(outputs[self.scores_output], np.float32))
        pixels = np.clip(pixels, 0, self.pixel_max).astype(np.uint8)
        return [{"pixels": image.tolist()} for image in pixels]

    def examples_from_serving(self, inputs: Mapping[str, np.ndarray]) -> list[Any]:
        return list(np.asarray(inputs[self.raw["name"]], np.float32))

    def serving_inputs(self, examples: Sequence[Any]) -> dict[str, np.ndarray]:
        return {self.raw["name"]: np.stack([np.asarray(x, np.float32) for x in examples])}

    def serving_outputs(self, answers: list[dict[str, Any]], names: Sequence[str],
                        outputs: Mapping[str, np.ndarray] | None = None
                        ) -> dict[str, np.ndarray]:
        if set(names) != {"pixels"}:
            return super().serving_outputs(answers, names)
        return {"pixels": np.array([a["pixels"] for a in answers], np.uint8)}

    def agreement_key(self, answer: dict[str, Any]) -> Any:
        return answer["pixels"]

    def expects(self) -> str:
        return (f"one latent {self.raw['name']!r}: {self.dims} floats (e.g. drawn from "
                "N(0, I))")
