"""Closed-loop timing of one call in this process: warm up, then sample in repeated rounds.

Rounds are bounded by time (so fast runtimes get many samples and slow ones do not stall the
bench) and by count. Keeping the rounds apart shows how much the figures move between them,
which is the noise the release gate must look past.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class SamplePlan:
    """How long to measure one configuration."""

    warmup_s: float = 0.1
    seconds: float = 0.6  # measured time, split across `rounds`
    rounds: int = 3
    min_samples: int = 200  # per configuration, even when the time is up
    max_samples: int = 20_000


def sample_latencies(call: Callable[[], Any], plan: SamplePlan) -> list[np.ndarray]:
    """Latencies (s) of `call`, one array per round; the warm-up calls are not recorded."""
    clock = time.perf_counter
    end = clock() + plan.warmup_s
    call()
    while clock() < end:
        call()
    per_round_s = plan.seconds / plan.rounds
    min_n = -(-plan.min_samples // plan.rounds)
    max_n = max(plan.max_samples // plan.rounds, min_n)
    rounds = []
    for _ in range(plan.rounds):
        samples = np.empty(max_n)
        n, end = 0, clock() + per_round_s
        while n < max_n and (n < min_n or clock() < end):
            start = clock()
            call()
            samples[n] = clock() - start
            n += 1
        rounds.append(samples[:n])
    return rounds
