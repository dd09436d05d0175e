"""The Fréchet distance between Gaussians fitted to two sets of vectors (FID's formula).

One definition for what judges generated images: a GAN's training metric in pixel space and the
benchmark's distance in a classifier's feature space. Written by hand: it is a few lines of
scipy (`sqrtm`); the libraries that ship it tie it to Inception's features.
"""

from __future__ import annotations

import numpy as np


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
