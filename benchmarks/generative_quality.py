"""How real a generator's images look to a trained `image.Digits` classifier.

    python -m liveri.benchmarks.generative_quality --classifier_logdir D --vae_logdir V --out DIR

Each image set is mapped to the classifier's penultimate layer (its hidden vector, 128 floats
by default) and compared with the real test images by the Fréchet distance between Gaussians
fitted to the two feature sets. This is FID's formula in a small digits classifier's feature
space, not Inception's: its figures compare only with each other. Beside it, the classifier's
class histogram over each set says whether every digit is generated (mode coverage).

Side by side: real train images (the floor: what two real samples differ by), the VAE's
samples (prior latents decoded), and a baseline of per-class mean images plus independent
Gaussian pixel noise with each class's per-pixel spread. Written by hand: the Fréchet distance
is a few lines of scipy (`sqrtm`), and no library judges images in our own classifier's eyes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from liveri.fileio import atomic_write_json, atomic_write_text
from liveri.lazy import tf


def frechet_distance(a: np.ndarray, b: np.ndarray, eps: float = 1e-6) -> float:
    """||mu_a - mu_b||^2 + tr(S_a + S_b - 2 (S_a S_b)^1/2) of feature sets [N, D]; `eps` on
    the covariances' diagonals keeps their product's root defined where a feature never
    varies (a ReLU unit that is always 0)."""
    from scipy import linalg

    mu_a, mu_b = a.mean(0), b.mean(0)
    offset = eps * np.eye(a.shape[1])
    cov_a, cov_b = np.cov(a, rowvar=False) + offset, np.cov(b, rowvar=False) + offset
    root = linalg.sqrtm(cov_a @ cov_b)
    trace = np.trace(cov_a + cov_b - 2.0 * np.real(root))
    return float(np.sum((mu_a - mu_b) ** 2) + max(trace, 0.0))


def load_task(experiment: str, logdir: str | Path) -> Any:
    """The task trained in `logdir`, with its weights."""
    from liveri.train.run_dir import load_params
    from liveri.train.trainer import restore_task

    return restore_task(load_params(Path(logdir), experiment), logdir)[0]


def classifier_view(classifier: Any, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(penultimate features [N, D], predicted classes [N]) of raw pixels [N, H, W]."""
    features = classifier.Encode(classifier.Preprocess(pixels), training=False)
    classes = tf.argmax(classifier.logits(features), -1)
    return features.numpy().astype(np.float64), classes.numpy()


def vae_samples(vae: Any, count: int, seed: int) -> np.ndarray:
    """`count` images decoded from prior latents drawn with `seed`, [N, H, W] uint8."""
    latents = np.random.default_rng(seed).standard_normal((count, vae.params.latent_dims))
    return vae.DecodePixels(latents.astype(np.float32)).numpy().astype(np.uint8)


def mean_plus_noise(pixels: np.ndarray, labels: np.ndarray, pixel_max: int, count: int,
                    seed: int) -> np.ndarray:
    """The baseline: a class drawn as often as in `labels`, its mean image plus Gaussian noise
    of its per-pixel spread, rounded and clipped to the levels."""
    rng = np.random.default_rng(seed)
    classes = rng.choice(labels, size=count)
    out = np.empty((count, *pixels.shape[1:]), np.uint8)
    for c in np.unique(classes):
        members = pixels[labels == c].astype(np.float64)
        where = classes == c
        noise = rng.standard_normal((int(where.sum()), *pixels.shape[1:])) * members.std(0)
        out[where] = np.clip(np.rint(members.mean(0) + noise), 0, pixel_max)
    return out


def judge(classifier: Any, reference: np.ndarray, sets: dict[str, np.ndarray],
          num_classes: int) -> dict[str, Any]:
    """Each set's Fréchet distance to `reference` and its class shares."""
    reference_features, _ = classifier_view(classifier, reference)
    rows = {}
    for name, pixels in sets.items():
        features, classes = classifier_view(classifier, pixels)
        shares = np.bincount(classes, minlength=num_classes) / len(classes)
        rows[name] = {"frechet_distance": frechet_distance(features, reference_features),
                      "images": len(pixels), "class_shares": [float(s) for s in shares],
                      "smallest_class_share": float(shares.min())}
    return rows


def run(args: argparse.Namespace) -> dict[str, Any]:
    from liveri.train.input.digits import DigitsInput

    data = DigitsInput.Params().Instantiate()
    train, test = data.Examples("train"), data.Examples("test")
    classifier = load_task("image.Digits", args.classifier_logdir)
    sets = {"real train images (floor)": train["pixels"]}
    if args.vae_logdir:
        vae = load_task("image.DigitsVae", args.vae_logdir)
        sets["image.DigitsVae samples"] = vae_samples(vae, args.samples, args.seed)
    sets["class means + pixel noise (baseline)"] = mean_plus_noise(
        train["pixels"], train["label"], args.pixel_max, args.samples, args.seed)
    rows = judge(classifier, test["pixels"], sets, classifier.num_classes)
    return {"reference": f"{len(test['pixels'])} real test images",
            "feature_space": "image.Digits classifier's penultimate layer (not Inception)",
            "seed": args.seed, "sets": rows}


def markdown(result: dict[str, Any]) -> str:
    lines = [f"Fréchet distance to {result['reference']}, in the {result['feature_space']}; "
             "smallest class share of the classifier's answers.", "",
             "| images | Fréchet distance | smallest class share |", "|---|---|---|"]
    for name, row in result["sets"].items():
        lines.append(f"| {name} ({row['images']}) | {row['frechet_distance']:.2f} | "
                     f"{row['smallest_class_share']:.3f} |")
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m liveri.benchmarks.generative_quality",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--classifier_logdir", required=True,
                        help="a trained image.Digits logdir: the judge")
    parser.add_argument("--vae_logdir", help="a trained image.DigitsVae logdir")
    parser.add_argument("--samples", type=int, default=1000, help="images per generator")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pixel_max", type=int, default=16, help="the scans' largest level")
    parser.add_argument("--out", required=True, help="folder for quality.json and quality.md")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result = run(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "quality.json", result)
    atomic_write_text(out / "quality.md", markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
