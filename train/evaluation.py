"""Evaluation: a task's metrics summed over a whole split."""

from __future__ import annotations

from typing import Any

from liveri.lazy import tf


def evaluate(task: Any, inp: Any, split: str, batch_size: int = 256) -> dict[str, float]:
    """Every metric the task reports over all of `split` (not distributed: eval sets are small),
    plus the number of examples."""

    @tf.function(reduce_retracing=True)
    def eval_step(batch: dict[str, Any]) -> dict[str, Any]:
        _, metrics = task.ComputeLoss(batch, training=False)
        return metrics

    sums: dict[str, float] = {}
    counts: dict[str, float] = {}
    examples = 0
    for batch in inp.Dataset(split, batch_size, training=False):
        examples += int(tf.shape(next(iter(batch.values())))[0])
        for name, (total, count) in eval_step(batch).items():
            sums[name] = sums.get(name, 0.0) + float(total)
            counts[name] = counts.get(name, 0.0) + float(count)
    means = {name: sums[name] / max(counts[name], 1.0) for name in sums}
    out = task.FinalizeMetrics(means)
    out.update(task.ExtraMetrics(inp, split, out))
    out["examples"] = examples
    return out
