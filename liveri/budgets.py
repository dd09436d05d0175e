"""Release budgets: the `release` section every experiment's params carry.

The release gate (`liveri release`) checks each against what was measured; each is a param, so
`--set release.latency_p99_ms=5` tightens one like any other knob.
"""

from __future__ import annotations

from typing import Any

from liveri.artifact.manifest import Artifact, Manifest
from liveri.errors import UsageError
from liveri.params import Params


def ReleaseParams() -> Params:
    p = Params()
    p.Define("latency_p99_ms", 20.0, "SavedModel p99 latency (ms), one query at a time, batch 1 "
             "(LoadGen SingleStream; early stopping's estimate); also the Server scenario's target.")
    p.Define("min_metric", 0.9, "Lowest acceptable main eval metric on the held-out set.")
    p.Define("max_int8_metric_drop", 0.01, "Largest drop of the main metric from float to int8.")
    p.Define("max_bundle_bytes", 1_000_000, "Largest mobile bundle (zip) in bytes.")
    p.Define("bundle_prefer", "size", "Which artifact within these budgets a bundle packs: the "
             "smallest (size) or the fastest at bundle_batch in the version's bench (latency).")
    p.Define("bundle_batch", 1, "The batch size bundle_prefer=latency compares at.")
    p.Define("min_server_qps", 100.0, "Lowest Poisson arrival rate (queries/s) the server holds "
             "with p99 within latency_p99_ms: LoadGen's Server scenario, judged VALID.")
    p.Define(
        "max_regression_pct",
        25.0,
        "Largest p50 latency increase (%) against the last released version, beyond noise.",
    )
    return p


def worse_by(value: float, reference: float, higher_is_better: bool) -> float:
    """How much worse the metric `value` is than `reference` (negative: better)."""
    return float(reference - value if higher_is_better else value - reference)


def quality_shortfall(source: Manifest, artifact: Artifact) -> str | None:
    """Why `artifact`'s main metric misses its version's release budgets (`source`, a
    Manifest): below `min_metric` (above it, for a lower-is-better metric), or more than
    `max_int8_metric_drop` worse than the SavedModel's; None when it meets both."""
    budgets = {**dict(ReleaseParams().items()), **source.budgets}
    main, hib = source.main_metric, source.higher_is_better
    value = artifact.metrics.get(main)
    reference = source.metrics.get("saved_model", {}).get(main)
    if value is None or reference is None:
        return f"no recorded {main} to judge it by"
    if worse_by(value, budgets["min_metric"], hib) > 0:
        return f"{main} {value:.4f} misses release.min_metric {budgets['min_metric']}"
    drop = worse_by(value, reference, hib)
    if drop > budgets["max_int8_metric_drop"]:
        return (f"{main} {value:.4f} is {drop:.4f} worse than the SavedModel's {reference:.4f} "
                f"(release.max_int8_metric_drop {budgets['max_int8_metric_drop']})")
    return None


def with_overrides(base: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """`base` budgets (keys without `release.`; the defaults above where missing) with
    `release.KEY=VALUE` overrides, each checked like any param; any other key is refused."""
    budgets = ReleaseParams()
    for key, value in base.items():
        budgets.Set(**{key: value})
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip().startswith("release."):
            keys = ", ".join("release." + k for k, _ in budgets.items())
            raise UsageError(f"--set {item!r}: a model trained elsewhere takes "
                             f"release.KEY=VALUE budgets only ({keys})")
        budgets.Override(key.strip().removeprefix("release."), value)
    return dict(budgets.items())
