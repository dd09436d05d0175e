"""Evaluation: a task's metrics summed over a whole split."""

from __future__ import annotations

import weakref
from typing import Any

from liveri.lazy import tf

# One compiled eval step per task while the task lives: a trainer evaluates the same task every
# `eval_every` steps, and tracing it anew each time (once per batch shape) was half of
# speech.Asr's 6 s per dev eval. The step holds the task weakly, so the cache keeps no task.
_EVAL_STEPS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _eval_step(task: Any) -> Any:
    if task not in _EVAL_STEPS:
        task_ref = weakref.ref(task)

        @tf.function(reduce_retracing=True)
        def eval_step(batch: dict[str, Any]) -> dict[str, Any]:
            _, metrics = task_ref().ComputeLoss(batch, training=False)
            return metrics

        _EVAL_STEPS[task] = eval_step
    return _EVAL_STEPS[task]


def eval_dataset(inp: Any, split: str, batch_size: int = 256) -> Any:
    """The batches `evaluate` reads; iterating the same one again reads its in-memory cache."""
    return inp.Dataset(split, batch_size, training=False)


def evaluate(task: Any, inp: Any, split: str, dataset: Any = None) -> dict[str, float]:
    """Every metric the task reports over all of `split` (not distributed: eval sets are small),
    plus the number of examples. `dataset`: `eval_dataset(inp, split)` kept by a caller that
    evaluates again (features are then computed once)."""
    eval_step = _eval_step(task)
    sums: dict[str, float] = {}
    counts: dict[str, float] = {}
    examples = 0
    for batch in dataset if dataset is not None else eval_dataset(inp, split):
        examples += int(tf.shape(next(iter(batch.values())))[0])
        for name, (total, count) in eval_step(batch).items():
            sums[name] = sums.get(name, 0.0) + float(total)
            counts[name] = counts.get(name, 0.0) + float(count)
    means = {name: sums[name] / max(counts[name], 1.0) for name in sums}
    out = task.FinalizeMetrics(means)
    out.update(task.ExtraMetrics(inp, split, out))
    out["examples"] = examples
    return out
