"""The input interface: examples of a split as numpy, and a tf.data pipeline over them."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from liveri.lazy import tf
from liveri.params import Params

SPLITS = ("train", "dev", "test")


class BaseInput:
    """An input built from params; `Examples(split)` are the raw examples a client would send."""

    @classmethod
    def Params(cls) -> Params:
        p = Params()
        p.Define("cls", cls, "The input class these params build.")
        p.Define("split_seed", 0, "Seed of the hash that assigns examples to splits.")
        p.Define("dev_fraction", 0.1, "Fraction of examples in the dev split.")
        p.Define("test_fraction", 0.2, "Fraction of examples in the held-out test split.")
        p.Define("shuffle_buffer", 2048, "Shuffle buffer of the training pipeline.")
        p.Define("deterministic", False, "Make the tf.data pipeline deterministic (slower).")
        return p

    def __init__(self, params: Params) -> None:
        self.params = params.Copy().Freeze()

    def Examples(self, split: str) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def SplitOf(self, key: bytes) -> str:
        """The split an example belongs to, from a seeded hash of its content: stable across
        machines and independent of example order."""
        digest = hashlib.sha256(f"{self.params.split_seed}:".encode() + key).digest()
        u = int.from_bytes(digest[:8], "big") / 2**64
        if u < self.params.test_fraction:
            return "test"
        if u < self.params.test_fraction + self.params.dev_fraction:
            return "dev"
        return "train"

    def Dataset(self, split: str, batch_size: int, training: bool, seed: int = 0) -> Any:
        """Batches of `split`; training pipelines repeat and shuffle with `seed`."""
        if split not in SPLITS:
            raise ValueError(f"split: expected one of {SPLITS}, got {split!r}")
        examples = self.Examples(split)
        ds = tf.data.Dataset.from_tensor_slices(examples).cache()
        if training:
            ds = ds.shuffle(self.params.shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
            ds = ds.repeat()
        ds = ds.batch(batch_size, drop_remainder=training)
        options = tf.data.Options()
        options.deterministic = self.params.deterministic
        return ds.with_options(options).prefetch(tf.data.AUTOTUNE)
