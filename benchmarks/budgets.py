"""Each `release.*` budget against its measured value: one small judge per budget.

A budget that applies but could not be measured is missed (a gate must not pass what it did not
check); one that cannot apply to this version (no int8 artifact, no earlier release) is marked
"not applicable" and holds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from liveri.budgets import worse_by

MET, MISSED, NOT_APPLICABLE = "met", "missed", "not applicable"


@dataclass
class BudgetResult:
    """One line of the release report."""

    key: str  # "release.latency_p99_ms"
    budget: Any
    measured: Any
    unit: str
    rule: str  # how measured compares with budget, in words
    verdict: str
    source: str = ""
    note: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def at_most(key: str, budget: float, measured: float | None, unit: str, source: str,
            note: str = "") -> BudgetResult:
    return _judge(key, budget, measured, unit, "measured <= budget", source, note,
                  lambda m: m <= budget)


def at_least(key: str, budget: float, measured: float | None, unit: str, source: str,
             note: str = "") -> BudgetResult:
    return _judge(key, budget, measured, unit, "measured >= budget", source, note,
                  lambda m: m >= budget)


def not_applicable(key: str, budget: Any, unit: str, note: str) -> BudgetResult:
    return BudgetResult(key, budget, None, unit, "-", NOT_APPLICABLE, note=note)


def _judge(key: str, budget: float, measured: float | None, unit: str, rule: str, source: str,
           note: str, holds: Any) -> BudgetResult:
    if measured is None:
        return BudgetResult(key, budget, None, unit, rule, MISSED, source,
                            note or "could not be measured")
    verdict = MET if holds(measured) else MISSED
    return BudgetResult(key, budget, measured, unit, rule, verdict, source, note)


def metric_budget(key: str, budget: float, measured: float | None, higher_is_better: bool,
                  source: str) -> BudgetResult:
    """`min_metric`: a floor for accuracy-like metrics, a ceiling for error rates."""
    if higher_is_better:
        return at_least(key, budget, measured, "", source)
    return at_most(key, budget, measured, "", source,
                   "the main metric is lower-is-better, so the budget is its ceiling")


def metric_drop(main: str, metrics: dict[str, dict[str, float]], higher_is_better: bool,
                quantized: str = "tflite_int8") -> float | None:
    """How much the main metric gets worse from the float TFLite to the `quantized` one."""
    try:
        return worse_by(metrics[quantized][main], metrics["tflite_float"][main],
                        higher_is_better)
    except KeyError:
        return None
