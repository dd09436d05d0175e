"""How fast an input pipeline delivers examples, for benchmarks to compare with training speed."""

from __future__ import annotations

import time

from liveri.train.input.base_input import BaseInput


def examples_per_second(input: BaseInput, split: str = "train", batch_size: int = 32,
                        seconds: float = 5.0, warmup_batches: int = 20) -> float:
    """Examples/s of `input`'s training pipeline on `split`, after `warmup_batches` batches
    (which fill caches and shuffle buffers), measured over about `seconds`."""
    iterator = iter(input.Dataset(split, batch_size, training=True, seed=0))
    for _ in range(warmup_batches):
        next(iterator)
    examples, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        batch = next(iterator)
        first = next(iter(batch.values())) if isinstance(batch, dict) else batch[0]
        examples += int(first.shape[0])
    return examples / (time.perf_counter() - start)
