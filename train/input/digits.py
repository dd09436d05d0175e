"""scikit-learn's digits: 1,797 real 8x8 scans of handwritten digits, pixels 0..16."""

from __future__ import annotations

import numpy as np
from liveri.train.input.base_input import BaseInput

from liveri.params import Params


class DigitsInput(BaseInput):
    @classmethod
    def Params(cls) -> Params:
        return super().Params()

    def __init__(self, params: Params) -> None:
        super().__init__(params)
        self._splits: dict[str, dict[str, np.ndarray]] | None = None

    def _load(self) -> dict[str, dict[str, np.ndarray]]:
        if self._splits is None:
            from sklearn.datasets import load_digits

            digits = load_digits()
            pixels = digits.images.astype(np.uint8)
            labels = digits.target.astype(np.int64)
            names = [self.SplitOf(p.tobytes() + bytes([int(label)]))
                     for p, label in zip(pixels, labels)]
            self._splits = {}
            for split in ("train", "dev", "test"):
                idx = np.array([i for i, n in enumerate(names) if n == split], dtype=np.int64)
                self._splits[split] = {"pixels": pixels[idx], "label": labels[idx]}
        return self._splits

    def Examples(self, split: str) -> dict[str, np.ndarray]:
        return self._load()[split]
