"""Training progress on the terminal: a bar when stderr is a TTY, else periodic log lines."""

from __future__ import annotations

import sys
import time


class Progress:
    """Shows steps, examples/s and ETA from `start_step` to `total_steps`."""

    def __init__(self, start_step: int, total_steps: int, batch_size: int, desc: str) -> None:
        self.total, self.batch_size, self.desc = total_steps, batch_size, desc
        self.start_step, self.step = start_step, start_step
        self.started = time.perf_counter()
        self._bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=total_steps, initial=start_step, desc=desc, unit="step",
                             dynamic_ncols=True)

    def examples_per_second(self) -> float:
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        return (self.step - self.start_step) * self.batch_size / elapsed

    def update(self, step: int, loss: float) -> None:
        done = step - self.step
        self.step = step
        rate = self.examples_per_second()
        if self._bar is not None:
            self._bar.update(done)
            self._bar.set_postfix(loss=f"{loss:.4f}", ex_s=f"{rate:.0f}")
            return
        steps_left = self.total - step
        steps_per_s = rate / self.batch_size if rate > 0 else 0.0
        eta = steps_left / steps_per_s if steps_per_s > 0 else float("nan")
        print(f"[{self.desc}] step {step}/{self.total} loss {loss:.4f} "
              f"{rate:.0f} examples/s ETA {eta:.0f}s", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
