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


def _decode(bundle: Bundle, latents: list[np.ndarray]) -> np.ndarray:
    return np.array([a["pixels"] for a in bundle.runner.predict(latents)], np.uint8)


def _prior(bundle: Bundle, count: int, seed: int) -> np.ndarray:
    sample = getattr(bundle.kind, "sample", None)
    if sample is None:
        raise InputError(f"--sample: this bundle's model is not a generator (it takes "
                         f"{bundle.expects()})")
    return sample(count, seed)


def sample_images(bundle: Bundle, count: int, seed: int) -> np.ndarray:
    """[count, H, W] uint8 levels: the bundle's answers to `count` prior latents drawn with
    `seed`."""
    return _decode(bundle, list(_prior(bundle, count, seed)))


def interpolation(bundle: Bundle, seed: int, steps: int = 8) -> np.ndarray:
    """[steps, H, W]: images decoded along the straight line from the first to the second
    prior latent drawn with `seed` (a smooth latent space morphs one into the other)."""
    a, b = _prior(bundle, 2, seed)
    return _decode(bundle, [a + (b - a) * t for t in np.linspace(0.0, 1.0, steps)])


def write_png(path: str | Path, levels: np.ndarray, pixel_max: int) -> None:
    """Levels [H, W] as a grey PNG (enlarged `SCALE` times), written whole."""
    atomic_write_bytes(path, _png(levels, pixel_max))


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
        write_png(out / files[-1], image, pixel_max)
    write_png(out / "grid.png", grid(images, pixel_max // 2), pixel_max)
    buffer = io.BytesIO()
    np.save(buffer, images)
    atomic_write_bytes(out / "samples.npy", buffer.getvalue())
    return {"samples": count, "seed": seed, "out": str(out),
            "files": [*files, "grid.png", "samples.npy"]}
