"""The regression verdict: beyond noise only, and the same figures always give the same answer."""

from __future__ import annotations

import numpy as np
from liveri.benchmarks.regression import is_regression, judge_increase


def _rounds(p50_ms: float, noise: float, seed: int, n: int = 10) -> list[float]:
    rng = np.random.default_rng(seed)
    return list(p50_ms * (1 + rng.uniform(-noise, noise, n)))


def test_equal_builds_are_not_a_regression_even_with_noisy_rounds():
    result = judge_increase(_rounds(0.6, 0.3, 1), _rounds(0.6, 0.3, 2))
    assert not is_regression(result, 10.0)
    assert result["ci_pct"][0] < 10.0


def test_a_build_three_times_slower_is_a_regression():
    result = judge_increase(_rounds(1.8, 0.1, 1), _rounds(0.6, 0.1, 2))
    assert result["increase_pct"] > 150
    assert result["mann_whitney_p"] < 0.01
    assert is_regression(result, 50.0)


def test_a_slowdown_within_the_allowance_is_not_a_regression():
    result = judge_increase(_rounds(0.72, 0.02, 1), _rounds(0.6, 0.02, 2))
    assert 15 < result["increase_pct"] < 25
    assert not is_regression(result, 50.0)
    assert is_regression(result, 5.0)


def test_the_same_figures_judged_twice_give_the_same_verdict():
    cand, base = _rounds(0.66, 0.2, 3), _rounds(0.6, 0.2, 4)
    assert judge_increase(cand, base) == judge_increase(cand, base)
