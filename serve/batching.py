"""Dynamic batching: requests to one signature queue up and run together as one model call.

TF Serving's BatchingParameters, same meaning: a batch closes when it reaches `max_batch_size`
examples or its first request has waited `batch_timeout_micros`; it is padded up to the next of
`allowed_batch_sizes`; at most `max_enqueued_batches` batches wait (beyond: RESOURCE_EXHAUSTED at
once); `num_batch_threads` batches run at a time. A request whose deadline passes while queued
answers DEADLINE_EXCEEDED and never reaches the model. Only requests whose inputs agree on
everything but the batch dimension are batched together, unless `pad_variable_length_inputs`:
then requests whose inputs differ in other dimensions too (sequences of different lengths) share
a batch, each input padded to the longest in the batch with its own first element (TF Serving's
choice), and each output axis that has the padded length of the same input axis is sliced back
to the request's own length, so a client never sees the padding.

`BatchingConfig` holds the current parameters; replacing them (a changed parameters file) takes
effect at the next batch, with no restart and no failed request.

With `--enable_batching` and no parameters file, batching is adaptive (TF Serving's defaults
otherwise: its timeout 0 makes a batch of whatever happens to be queued, so 32 clients get many
small model calls). A batch waits to grow only while more requests are expected: the scheduler
tracks the most examples outstanding at once (queued plus being run) between batches, decaying
by half per batch when fewer come, and a batch closes once it holds that many, or after
`ADAPTIVE_WAIT_COSTS` times a batch's recent run time (at most `ADAPTIVE_MAX_WAIT_S`). A lone
client never has company outstanding, so its requests run at once. While one batch gathers,
arrivals join it rather than start a second gathering batch; one batch runs at a time
(`ADAPTIVE`). By hand: TF Serving's adaptive shared batch scheduler tunes batch threads, not the
timeout, and no Python library batches for a serving loop.

Two kinds of caller share one queue: threads (`submit`: REST, warmup) and coroutines on an event
loop (`submit_async`: the gRPC front end). A coroutine never runs the model on its loop; its batch
runs on a batch thread, which answers every coroutine of the batch with one wake-up of the loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass, field

import grpc
import numpy as np
from google.protobuf import text_format
from liveri.serve.errors import ServingError, from_exception, invalid

from liveri.errors import UsageError

log = logging.getLogger("liveri.serve")

RunFn = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]


@dataclass(frozen=True)
class BatchingOptions:
    """TF Serving's BatchingParameters with its defaults (BasicBatchScheduler's); `adaptive`
    (no parameters file) lets the scheduler choose when a batch closes."""

    max_batch_size: int = 1000
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 10
    num_batch_threads: int = field(default_factory=lambda: os.cpu_count() or 1)
    allowed_batch_sizes: tuple[int, ...] = ()
    pad_variable_length_inputs: bool = False
    adaptive: bool = False

    def __post_init__(self) -> None:
        if self.max_batch_size < 1 or self.num_batch_threads < 1 or self.max_enqueued_batches < 1:
            raise UsageError("BatchingParameters: max_batch_size, num_batch_threads and "
                             "max_enqueued_batches must be positive")
        if self.batch_timeout_micros < 0:
            raise UsageError("BatchingParameters: batch_timeout_micros must be >= 0")
        sizes = self.allowed_batch_sizes
        if sizes:
            if list(sizes) != sorted(set(sizes)) or sizes[0] < 1:
                raise UsageError("BatchingParameters: allowed_batch_sizes must be positive and "
                                 f"strictly increasing, got {list(sizes)}")
            if sizes[-1] != self.max_batch_size:
                raise UsageError("BatchingParameters: the last entry of allowed_batch_sizes "
                                 f"({sizes[-1]}) must equal max_batch_size ({self.max_batch_size})")

    def padded_size(self, size: int) -> int:
        """The batch size the model runs for `size` examples (next allowed size, if any)."""
        for allowed in self.allowed_batch_sizes:
            if allowed >= size:
                return allowed
        return size


def parse_batching_parameters(text: str, origin: str = "<text>") -> BatchingOptions:
    """BatchingOptions from a BatchingParameters text proto; UsageError naming line and column."""
    from liveri.serve.protos import BatchingParametersProto

    proto = BatchingParametersProto()
    try:
        text_format.Parse(text, proto)
    except text_format.ParseError as exc:
        raise UsageError(
            f"Error parsing text-format tensorflow.serving.BatchingParameters: {origin}: {exc}"
        ) from None
    defaults = BatchingOptions()
    values = {}
    for name in ("max_batch_size", "batch_timeout_micros", "max_enqueued_batches",
                 "num_batch_threads"):
        values[name] = (getattr(proto, name).value if proto.HasField(name)
                        else getattr(defaults, name))
    return BatchingOptions(allowed_batch_sizes=tuple(proto.allowed_batch_sizes),
                           pad_variable_length_inputs=proto.pad_variable_length_inputs, **values)


def read_batching_parameters_text(path: str) -> str:
    """The file's text (parse it with `parse_batching_parameters`); UsageError when unreadable."""
    try:
        with open(path) as f:
            return f.read()
    except OSError as exc:
        raise UsageError(f"--batching_parameters_file: cannot read {path}: {exc.strerror}") from None


# No parameters file: adaptive, one batch at a time. A second batch thread made batches of 20
# instead of 30 for 32 clients and 0.8 of one thread's throughput (docs/performance.md, section
# 11): batches compete for the GIL, while TensorFlow's own threads already parallelize a batch.
ADAPTIVE = BatchingOptions(adaptive=True, num_batch_threads=1)


class BatchingConfig:
    """The batching options in force; every scheduler reads them at each batch."""

    def __init__(self, options: BatchingOptions | None = None) -> None:
        self.options = options or ADAPTIVE


# Batch threads for coroutine callers, shared by every scheduler of the process (each scheduler
# still runs at most its own `num_batch_threads` batches at a time).
_BATCH_THREADS = futures.ThreadPoolExecutor(256, thread_name_prefix="liveri-batch")
ADAPTIVE_WAIT_COSTS = 5.0
ADAPTIVE_MAX_WAIT_S = 0.010
_COST_WEIGHT = 0.2  # of the newest batch in the running mean of batch run times


class _Task:
    __slots__ = ("inputs", "size", "key", "deadline", "done", "future", "outputs", "error",
                 "finished", "taken", "lead")

    def __init__(self, inputs: dict[str, np.ndarray], size: int, key: tuple,
                 deadline: float | None, future: asyncio.Future | None = None) -> None:
        self.inputs = inputs
        self.size = size
        self.key = key
        self.deadline = deadline
        self.future = future  # a coroutine's task: resolved on its loop once answered
        self.done: threading.Lock | None = None  # a thread's task: released once answered or led
        if future is None:
            self.done = threading.Lock()
            self.done.acquire()
        self.outputs: dict[str, np.ndarray] | None = None
        self.error: ServingError | None = None
        self.finished = False
        self.taken = False  # in a batch
        self.lead = False  # a thread runs its batch (no other batch may take it)

    def finish(self, outputs: dict[str, np.ndarray] | None, error: ServingError | None) -> None:
        """Record the answer; a thread's task wakes now, a coroutine's in `_wake`."""
        self.outputs = outputs
        self.error = error
        self.finished = True
        if self.done is not None:
            self.done.release()


def _resolve(tasks: list[_Task]) -> None:
    for task in tasks:
        if not task.future.done():  # type: ignore[union-attr]
            task.future.set_result(None)  # type: ignore[union-attr]


def _wake(batch: list[_Task]) -> None:
    """One call into each event loop that has coroutines waiting on `batch`."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Task]] = {}
    for task in batch:
        if task.future is not None:
            by_loop.setdefault(task.future.get_loop(), []).append(task)
    for loop, tasks in by_loop.items():
        try:
            loop.call_soon_threadsafe(_resolve, tasks)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            pass


def _batch_key(inputs: dict[str, np.ndarray], pad: bool = False) -> tuple[int, tuple] | None:
    """(batch size, key) when every input shares its first dimension; None if not batchable.

    Requests with equal keys may share a batch: same names, dtypes and inner shapes, or with
    `pad` only the same ranks (their inner shapes are padded to agree).
    """
    size = None
    key = []
    for name in sorted(inputs):
        array = inputs[name]
        if array.ndim == 0 or (size is not None and array.shape[0] != size):
            return None
        size = array.shape[0]
        key.append((name, array.dtype.str, array.ndim if pad else array.shape[1:]))
    if not size:
        return None
    return size, tuple(key)


def _pad_to(array: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """`array` grown to `shape` (all but the first axis), filled with its own first element."""
    if array.shape[1:] == shape:
        return array
    widths = [(0, 0)] + [(0, want - have) for have, want in zip(array.shape[1:], shape)]
    fill = array.flat[0] if array.size else array.dtype.type(0)
    return np.pad(array, widths, mode="constant", constant_values=fill)


def _padded_lengths(tasks: list[_Task]) -> tuple[dict[str, tuple[int, ...]], dict[int, int]]:
    """Each input's inner shape padded to the batch's longest, and axis -> padded length for
    the axes where every input that was padded agrees on that length (the axes outputs share)."""
    shapes: dict[str, tuple[int, ...]] = {}
    for name in tasks[0].inputs:
        inner = [t.inputs[name].shape[1:] for t in tasks]
        shapes[name] = tuple(max(dims) for dims in zip(*inner))
    lengths: dict[int, int] = {}
    conflicting: set[int] = set()
    for name, shape in shapes.items():
        for axis, length in enumerate(shape, start=1):
            if any(t.inputs[name].shape[axis] != length for t in tasks):
                if lengths.setdefault(axis, length) != length:
                    conflicting.add(axis)
    return shapes, {a: n for a, n in lengths.items() if a not in conflicting}


def _own_lengths(task: _Task, lengths: dict[int, int]) -> dict[int, int]:
    """The task's own length on each padded axis (the shortest of its inputs there)."""
    own = {}
    for axis in lengths:
        sizes = [a.shape[axis] for a in task.inputs.values() if a.ndim > axis]
        own[axis] = min(sizes) if sizes else lengths[axis]
    return own


def _unpad(value: np.ndarray, lengths: dict[int, int], own: dict[int, int]) -> np.ndarray:
    index = [slice(None)] * value.ndim
    for axis, padded in lengths.items():
        if axis < value.ndim and value.shape[axis] == padded and own[axis] < padded:
            index[axis] = slice(0, own[axis])
    return value[tuple(index)]


class BatchScheduler:
    """One queue in front of one signature of one loaded version.

    A thread caller that finds fewer than `num_batch_threads` batches running leads one, built
    around itself, in its own thread, so a lone request runs the model with no thread hand-off.
    Coroutine callers are led by batch threads, which go on running whatever queued during the
    previous batch until the queue is empty. A leader that finishes hands the lead to the oldest
    request still waiting: a thread's request leads in its own thread, a coroutine's in a batch
    thread.
    """

    def __init__(self, run: RunFn, config: BatchingConfig,
                 on_batch: Callable[[int], None] = lambda size: None) -> None:
        self._run = run
        self._config = config
        self._on_batch = on_batch
        self._cond = threading.Condition()
        self._queue: deque[_Task] = deque()
        self._queued = 0  # examples waiting
        self._leaders = 0  # batches being gathered or run
        self._stopped = False
        # Adaptive batching's view of the load (see the module docstring).
        self._running = 0  # examples in batches being run
        self._peak = 0  # most examples outstanding at once since the last batch closed
        self._expected = 1.0  # examples a batch may expect to gather
        self._cost = 0.0  # running mean of a batch's run time, seconds
        self._gathering = 0  # adaptive leaders waiting for their batch to fill

    @property
    def queued(self) -> int:
        """Examples waiting (the queue depth metric)."""
        return self._queued

    def _keyed(self, inputs: dict[str, np.ndarray]) -> tuple[int, tuple] | None:
        """The request's (size, key), None when it cannot be batched; refuses oversized ones."""
        options = self._config.options
        keyed = _batch_key(inputs, options.pad_variable_length_inputs)
        if keyed is not None and keyed[0] > options.max_batch_size:
            raise invalid(f"Task size {keyed[0]} is larger than maximum input batch size "
                          f"{options.max_batch_size}; send at most {options.max_batch_size} "
                          "examples per request")
        return keyed

    def _enqueue(self, task: _Task) -> bool:
        """Queue `task`; True when a batch slot was free and `task` now leads a batch."""
        options = self._config.options
        with self._cond:
            if self._stopped:
                raise ServingError(grpc.StatusCode.UNAVAILABLE, "The batch scheduler is stopped")
            if self._queued + task.size > options.max_enqueued_batches * options.max_batch_size:
                raise ServingError(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                   "The batch scheduling queue to which this task was submitted "
                                   "is full")
            self._queue.append(task)
            self._queued += task.size
            self._peak = max(self._peak, self._queued + self._running)
            if self._leaders < options.num_batch_threads and not self._gathering:
                self._leaders += 1
                task.lead = True
            if ((options.batch_timeout_micros or options.adaptive)
                    and self._queued >= self._full_size(options)):
                self._cond.notify_all()  # a leader gathering a batch may close it now
        return task.lead

    def submit(self, inputs: dict[str, np.ndarray], deadline: float | None) -> dict[str, np.ndarray]:
        """Queue the request, wait for (or lead) its batch, return its slice of the outputs."""
        keyed = self._keyed(inputs)
        if keyed is None:
            if deadline is not None and time.monotonic() > deadline:
                raise _deadline_error()
            return self._run(inputs)
        task = _Task(inputs, *keyed, deadline)
        if self._enqueue(task) or self._wait(task):
            self._lead(task)
        if task.error is not None:
            raise task.error
        return task.outputs  # type: ignore[return-value]

    async def submit_async(self, inputs: dict[str, np.ndarray], deadline: float | None
                           ) -> dict[str, np.ndarray]:
        """`submit` for a coroutine: the model runs on a batch thread, never on the loop.

        A cancelled caller (its client went away or its deadline passed) leaves the queue, so a
        request nobody waits for costs no model time.
        """
        keyed = self._keyed(inputs)
        loop = asyncio.get_running_loop()
        if keyed is None:
            if deadline is not None and time.monotonic() > deadline:
                raise _deadline_error()
            return await loop.run_in_executor(_BATCH_THREADS, self._run, inputs)
        task = _Task(inputs, *keyed, deadline, loop.create_future())
        if self._enqueue(task):
            _BATCH_THREADS.submit(self._drain, task)
        try:
            await task.future  # type: ignore[misc]
        except asyncio.CancelledError:
            self._withdraw(task)
            raise
        if task.error is not None:
            raise task.error
        return task.outputs  # type: ignore[return-value]

    def _withdraw(self, task: _Task) -> bool:
        """Take a task that is still queued (not led, not in a batch) out; True if it was."""
        with self._cond:
            if task.lead or task.taken:
                return False
            self._queue.remove(task)
            self._queued -= task.size
        return True

    def _wait(self, task: _Task) -> bool:
        """Wait until the task is answered (False) or handed the lead (True)."""
        timeout = -1 if task.deadline is None else max(task.deadline - time.monotonic(), 0.0)
        if not task.done.acquire(timeout=timeout):  # type: ignore[union-attr]
            if self._withdraw(task):  # still queued: leave, costing no model time
                raise _deadline_error()
            task.done.acquire()  # type: ignore[union-attr]  # led or running: comes shortly
        return task.lead

    def stop(self) -> None:
        """Refuse new requests; those queued still run (each leader hands the lead on)."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()  # leaders gathering a batch close it now

    def _lead(self, own: _Task) -> None:
        """Gather and run the batch that starts with `own` (a thread's task), then pass the lead."""
        try:
            self._run_batch(self._take_batch(own))
        finally:
            waiting = self._next_leader()
            if waiting is not None:
                _BATCH_THREADS.submit(self._drain, waiting)

    def _drain(self, own: _Task) -> None:
        """A batch thread: lead `own`'s batch, then the next coroutine's, while any wait."""
        while own is not None:
            try:
                self._run_batch(self._take_batch(own))
            except Exception:  # never strand a request this thread leads
                log.exception("Batch thread failed")
                if not own.finished:
                    own.finish(None, ServingError(grpc.StatusCode.INTERNAL, "batching failed"))
                    _wake([own])
            own = self._next_leader()

    def _next_leader(self) -> _Task | None:
        """Pass the lead to the oldest waiting task. A thread's task is woken to lead in its own
        thread; a coroutine's is returned for the calling batch thread to lead. With none waiting
        (or fewer batch slots after a parameter change) the lead ends."""
        with self._cond:
            waiting = next((t for t in self._queue if not t.lead), None)
            if (waiting is None or self._gathering
                    or self._leaders > self._config.options.num_batch_threads):
                self._leaders -= 1
                return None
            waiting.lead = True
        if waiting.future is None:
            waiting.done.release()  # type: ignore[union-attr]
            return None
        return waiting

    def _take_batch(self, own: _Task) -> list[_Task]:
        """`own` and the queued requests that can share its batch, oldest first, once the batch
        is full or `own` has waited `batch_timeout_micros`. Other leaders' requests stay theirs."""
        with self._cond:
            options = self._config.options

            def joins(task: _Task) -> bool:
                return task is own or (task.key == own.key and not task.lead)

            wait_s = (options.batch_timeout_micros / 1e6 if not options.adaptive else
                      min(ADAPTIVE_WAIT_COSTS * self._cost, ADAPTIVE_MAX_WAIT_S))
            if wait_s > 0:
                close_at = time.monotonic() + wait_s
                full = self._full_size(options)
                self._gathering += options.adaptive
                while not self._stopped:
                    ready = sum(t.size for t in self._queue if joins(t))
                    remaining = close_at - time.monotonic()
                    if ready >= full or remaining <= 0:
                        break
                    self._cond.wait(remaining)
                self._gathering -= options.adaptive
            batch, rest, size = [own], deque(), own.size
            own.taken = True
            for task in self._queue:
                if task is own:
                    continue
                if joins(task) and size + task.size <= options.max_batch_size:
                    batch.append(task)
                    size += task.size
                    task.taken = True
                else:
                    rest.append(task)
            self._queue = rest
            self._queued -= size
            self._running += size
            # The next batch may expect as many as were outstanding at once since this one
            # began gathering; when fewer come, the expectation halves with each batch.
            self._expected = max(self._peak, self._expected / 2)
            self._peak = self._queued + self._running
        return batch

    def _full_size(self, options: BatchingOptions) -> int:
        """How many examples close a batch before its wait ends."""
        if not options.adaptive:
            return options.max_batch_size
        return min(options.max_batch_size, max(1, round(self._expected)))

    def _ran(self, size: int, seconds: float) -> None:
        with self._cond:
            self._running -= size
            self._cost += (seconds - self._cost) * (_COST_WEIGHT if self._cost else 1.0)

    def _run_batch(self, batch: list[_Task]) -> None:
        started = time.perf_counter()
        try:
            self._run_live(batch)
        finally:
            self._ran(sum(t.size for t in batch), time.perf_counter() - started)

    def _run_live(self, batch: list[_Task]) -> None:
        now = time.monotonic()
        live = []
        for task in batch:
            if task.deadline is not None and now > task.deadline:
                task.finish(None, _deadline_error())
            else:
                live.append(task)
        if not live:
            _wake(batch)
            return
        try:
            if len(live) == 1 and not self._config.options.allowed_batch_sizes:
                self._on_batch(live[0].size)
                live[0].finish(self._run(live[0].inputs), None)
                return
            self._run_merged(live)
        except Exception as exc:  # answer every task; never lose a batch thread
            error = from_exception(exc)
            for task in live:
                if not task.finished:
                    task.finish(None, error)
        finally:
            _wake(batch)

    def _run_merged(self, tasks: list[_Task]) -> None:
        total = sum(t.size for t in tasks)
        padded = self._config.options.padded_size(total)
        shapes, lengths = _padded_lengths(tasks)
        merged = {}
        for name in tasks[0].inputs:
            parts = [_pad_to(t.inputs[name], shapes[name]) for t in tasks]
            if padded > total:
                first_row = parts[0][:1]
                parts.append(np.repeat(first_row, padded - total, axis=0))
            merged[name] = np.concatenate(parts, axis=0) if len(parts) > 1 else parts[0]
        self._on_batch(padded)
        outputs = self._run(merged)
        if any(value.ndim == 0 or value.shape[0] != padded for value in outputs.values()):
            # An output without the batch dimension cannot be split: run each request alone.
            for task in tasks:
                task.finish(self._run(task.inputs), None)
            return
        start = 0
        for task in tasks:
            end = start + task.size
            rows = {k: v[start:end] for k, v in outputs.items()}
            if lengths:
                own = _own_lengths(task, lengths)
                rows = {k: _unpad(v, lengths, own) for k, v in rows.items()}
            task.finish(rows, None)
            start = end


def _deadline_error() -> ServingError:
    return ServingError(grpc.StatusCode.DEADLINE_EXCEEDED,
                        "Deadline exceeded while the request waited for its batch; "
                        "the model did not run")
