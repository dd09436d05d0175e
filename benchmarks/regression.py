"""Is the candidate slower than the last released version, beyond what the machine's noise explains?

Both SavedModels are loaded side by side and timed in alternating rounds (batch 1, one query at a
time), so drift in the machine's load hits both alike. Each round gives one p50 per version; the
verdict needs two things: a one-sided Mann-Whitney U test saying the candidate's round p50s are
higher (p < ALPHA), and the bootstrap confidence interval of the p50 increase lying wholly above
the allowed percentage. A build judged against itself sits near 0% with a CI that straddles it,
so it is never caught; a truly slower build clears both by a wide margin, run after run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from liveri.benchmarks.inputs import tile_batch, warmup_examples
from liveri.benchmarks.runners import saved_model_runner
from liveri.benchmarks.timing import SamplePlan, sample_latencies

from liveri import layout
from liveri.artifact import manifest

ALPHA = 0.01
CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 4000


@dataclass(frozen=True)
class ComparePlan:
    """Alternating rounds: enough of them for the rank test to reach ALPHA with margin."""

    rounds: int = 10
    seconds_per_round: float = 0.25
    min_samples: int = 40

    @classmethod
    def quick(cls) -> ComparePlan:
        return cls(seconds_per_round=0.1, min_samples=30)


def last_released(model_dir: Path, before: int) -> tuple[int, Path] | None:
    """The newest version older than `before` whose manifest's gate says "released"."""
    for version, path in sorted(layout.versions(model_dir).items(), reverse=True):
        if version >= before:
            continue
        try:
            verdict = manifest.load(path).gate.get("verdict")
        except manifest.ManifestError:
            continue
        if verdict == "released":
            return version, path
    return None


def compare_p50(candidate_dir: Path, baseline_dir: Path, plan: ComparePlan) -> dict[str, Any]:
    """Round-by-round p50 (ms) of both versions, and the increase with its CI and p-value."""
    calls = {}
    for role, path in (("candidate", candidate_dir), ("baseline", baseline_dir)):
        runner = saved_model_runner(path)
        calls[role] = runner.bind(tile_batch(warmup_examples(path), 1))
    one_round = SamplePlan(warmup_s=0.05, seconds=plan.seconds_per_round, rounds=1,
                           min_samples=plan.min_samples)
    p50s: dict[str, list[float]] = {"candidate": [], "baseline": []}
    for r in range(plan.rounds):
        order = ("candidate", "baseline") if r % 2 == 0 else ("baseline", "candidate")
        for role in order:
            (samples,) = sample_latencies(calls[role], one_round)
            p50s[role].append(float(np.median(samples) * 1e3))
    return {**judge_increase(p50s["candidate"], p50s["baseline"]), "plan": asdict(plan),
            "rounds_p50_ms": p50s}


def judge_increase(candidate_ms: list[float], baseline_ms: list[float]) -> dict[str, Any]:
    """Increase of the median round p50 (%), its bootstrap CI and the rank test's p-value."""
    from scipy.stats import mannwhitneyu

    cand, base = np.asarray(candidate_ms), np.asarray(baseline_ms)
    rng = np.random.default_rng(0)  # a fixed seed: the same samples always give the same CI
    boot_c = np.median(rng.choice(cand, (BOOTSTRAP_RESAMPLES, cand.size)), axis=1)
    boot_b = np.median(rng.choice(base, (BOOTSTRAP_RESAMPLES, base.size)), axis=1)
    boot_pct = (boot_c / boot_b - 1.0) * 100.0
    tail = (1.0 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(boot_pct, [tail, 100 - tail])
    p_value = float(mannwhitneyu(cand, base, alternative="greater").pvalue)
    return {
        "candidate_p50_ms": float(np.median(cand)),
        "baseline_p50_ms": float(np.median(base)),
        "increase_pct": float((np.median(cand) / np.median(base) - 1.0) * 100.0),
        "ci_pct": [float(low), float(high)],
        "confidence": CONFIDENCE,
        "mann_whitney_p": p_value,
        "alpha": ALPHA,
        "noise_pct": float(_spread_pct(cand) + _spread_pct(base)) / 2,
    }


def is_regression(result: dict[str, Any], max_increase_pct: float) -> bool:
    """Slower beyond noise: significant by rank test and the whole CI above the allowance."""
    return result["mann_whitney_p"] < ALPHA and result["ci_pct"][0] > max_increase_pct


def _spread_pct(x: np.ndarray) -> float:
    """Interquartile range of the round p50s relative to their median: the measured noise."""
    q1, med, q3 = np.percentile(x, [25, 50, 75])
    return float((q3 - q1) / med * 100.0) if med > 0 else 0.0
