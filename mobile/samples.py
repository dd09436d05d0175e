"""A generator bundle's samples as image files: `run vae.zip --sample N --seed S --out DIR`.

Latents come from the bundle's kind (`sample`: numpy's generator, seeded), so the SavedModel
given the same seed draws the same latents and decodes the same images. Each image is written
as a PNG (grey, levels scaled to 0..255, enlarged `SCALE` times so an 8 x 8 scan is visible),
all of them as one grid PNG, and their exact levels as `samples.npy`. Pillow writes the PNGs
(a device's image library; no TensorFlow). Every file appears whole (temp file, then rename).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
from liveri.mobile.bundle import Bundle, InputError

from liveri.fileio import atomic_write_bytes

SCALE = 8  # each pixel as SCALE x SCALE screen pixels


def sample_images(bundle: Bundle, count: int, seed: int) -> np.ndarray:
    """[count, H, W] uint8 levels: the bundle's answers to `count` prior latents drawn with
    `seed`."""
    sample = getattr(bundle.kind, "sample", None)
    if sample is None:
        raise InputError(f"--sample: this bundle's model is not a generator (it takes "
                         f"{bundle.expects()})")
    answers = bundle.runner.predict(list(sample(count, seed)))
    return np.array([a["pixels"] for a in answers], np.uint8)


def _png(levels: np.ndarray, pixel_max: int) -> bytes:
    from PIL import Image

    grey = np.rint(levels.astype(np.float32) * (255.0 / pixel_max)).astype(np.uint8)
    grey = np.kron(grey, np.ones((SCALE, SCALE), np.uint8))
    out = io.BytesIO()
    Image.fromarray(grey, mode="L").save(out, format="PNG")
    return out.getvalue()


def grid(images: np.ndarray, fill: int, columns: int = 8, gap: int = 1) -> np.ndarray:
    """Images [N, H, W] tiled in rows of `columns`, `gap` pixels of `fill` between them."""
    n, h, w = images.shape
    rows, cols = -(-n // columns), min(n, columns)
    out = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap), fill, images.dtype)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        out[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = image
    return out


def write_samples(bundle: Bundle, count: int, seed: int, out_dir: str | Path) -> dict[str, Any]:
    """Write `count` samples drawn with `seed` to `out_dir`; what was written, JSON-ready."""
    images = sample_images(bundle, count, seed)
    pixel_max = int(bundle.spec["postprocessing"]["pixel_max"])
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for i, image in enumerate(images):
        files.append(f"sample_{i:03d}.png")
        atomic_write_bytes(out / files[-1], _png(image, pixel_max))
    atomic_write_bytes(out / "grid.png", _png(grid(images, pixel_max // 2), pixel_max))
    buffer = io.BytesIO()
    np.save(buffer, images)
    atomic_write_bytes(out / "samples.npy", buffer.getvalue())
    return {"samples": count, "seed": seed, "out": str(out),
            "files": [*files, "grid.png", "samples.npy"]}
