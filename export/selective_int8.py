"""Selective int8: when full int8 misses `release.max_int8_metric_drop`, keep its worst layers
in float, worst first, until the budget holds or `export.int8_max_float_layers` is reached.

"Worst" is the layer's share of the squared error summed over every layer, by the
QuantizationDebugger (`quant_debug`): on text.TransformerLm that order found the layer norms and
residual sums that cost perplexity, where RMSE / scale (the reports' order) ranked them last and
16 layers in float recovered nothing (docs/int8.md). Each try keeps the first 1, 2, 4, ...
layers of that order in float (doubling: each try costs a conversion and a parity run),
and is judged by the task metric on the parity examples against the float TFLite's. The first
try within budget is kept; when none is, the try with the smallest drop if it beats full int8
(else full int8 stays), and the manifest says so. The manifest's int8 notes name the layers
kept in float and why.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from liveri.export.quant_debug import Int8Debugger


def counts(limit: int, available: int) -> list[int]:
    """How many layers each try keeps in float: 1, 2, 4, ... up to `limit`, the last try at
    the limit itself; never all `available` layers (that is no int8 model, and the debugger
    refuses it: image.DigitsVae's int8 has 5)."""
    top = min(limit, available - 1)
    found, k = [], 1
    while k < top:
        found.append(k)
        k *= 2
    return found + [top] if top > 0 else []


def _cost(layer: dict[str, Any]) -> float:
    return layer["share_of_squared_error"]


def keep_worst_float(debugger: Int8Debugger, layers: list[dict[str, Any]],
                     drop_of: Callable[[bytes], float], budget: float, limit: int,
                     first_drop: float) -> tuple[bytes | None, dict[str, Any]]:
    """(the chosen model, None to keep full int8; the note for the manifest).
    `drop_of(model)` measures a try's metric drop from float (positive: worse)."""
    order = [layer["tensor"] for layer in sorted(layers, key=_cost, reverse=True)]
    tries: list[dict[str, Any]] = []
    model, drop, k = None, first_drop, 0
    for count in counts(limit, len(order)):
        trial = debugger.model_keeping_float(order[:count])
        trial_drop = drop_of(trial)
        tries.append({"float_layers": count, "metric_drop": round(trial_drop, 5)})
        if trial_drop < drop:
            model, drop, k = trial, trial_drop, count
        if trial_drop <= budget:
            break
    missed = (f"full int8 missed release.max_int8_metric_drop {budget} (drop {first_drop:.5f} "
              "from tflite_float)")
    if model is None:
        why = f"{missed}; no try keeping its worst layers in float did better, so it stays"
    elif drop <= budget:
        why = (f"{missed}; keeping the {k} layers with the largest share of its squared error "
               f"in float brought the drop to {drop:.5f}")
    else:
        why = (f"{missed}; keeping the {k} layers with the largest share of its squared error "
               f"in float brought the drop to {drop:.5f} at best, still over budget "
               f"(export.int8_max_float_layers {limit})")
    return model, {"layers": order[:k], "tries": tries, "budget_met": drop <= budget,
                   "why": why}
