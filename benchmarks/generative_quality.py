"""How real a generator's images look to a trained `image.Digits` classifier.

    python -m liveri.benchmarks.generative_quality --classifier_logdir D \\
        [--gan_logdir G] [--vae_logdir V] --out DIR

Each image set is mapped to the classifier's penultimate layer (its hidden vector, 128 floats
by default) and compared with the real test images by the Fréchet distance between Gaussians
fitted to the two feature sets. This is FID's formula in a small digits classifier's feature
space, not Inception's: its figures compare only with each other. Beside it, the classifier's
class histogram over each set says whether every digit is generated (mode coverage).

Side by side: real train images (the floor: what two real samples differ by), the GAN's and
the VAE's samples (prior latents generated or decoded), and a baseline of per-class mean
images plus independent Gaussian pixel noise with each class's per-pixel spread. Written by
hand: no library judges images in our own classifier's eyes (the distance itself is
`liveri.frechet`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from liveri.artifact import kinds
from liveri.fileio import atomic_write_json, atomic_write_text
from liveri.frechet import frechet_distance
from liveri.lazy import tf


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


def generator_samples(generator: Any, count: int, seed: int) -> np.ndarray:
    """`count` images a generator (VAE decoder or GAN generator) makes from prior latents
    drawn with `seed` as its exported kind draws them (the images `liveri.mobile run
    --sample` draws on a device), [N, H, W] uint8 levels."""
    kind = kinds.load(generator.PreprocessingSpec(None), generator.PostprocessingSpec(None), {})
    pixels = generator.GeneratePixels(kind.sample(count, seed)).numpy()
    return np.rint(pixels).astype(np.uint8)


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


# The generators judged, each by its trained logdir's flag (`_flag`).
GENERATORS = ("image.DigitsGan", "image.DigitsVae")


def _flag(experiment: str) -> str:
    """image.DigitsVae -> vae_logdir."""
    return experiment.removeprefix("image.Digits").lower() + "_logdir"


def run(args: argparse.Namespace) -> dict[str, Any]:
    from liveri.train.input.digits import DigitsInput

    data = DigitsInput.Params().Instantiate()
    train, test = data.Examples("train"), data.Examples("test")
    classifier = load_task("image.Digits", args.classifier_logdir)
    sets = {"real train images (floor)": train["pixels"]}
    for experiment in GENERATORS:
        if getattr(args, _flag(experiment)):
            generator = load_task(experiment, getattr(args, _flag(experiment)))
            sets[f"{experiment} samples"] = generator_samples(generator, args.samples, args.seed)
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
    for experiment in GENERATORS:
        parser.add_argument(f"--{_flag(experiment)}", help=f"a trained {experiment} logdir")
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
