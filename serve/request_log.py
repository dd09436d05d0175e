"""Request logging: a sampled share of each model's requests and answers, as PredictionLog files.

TF Serving reads `logging_config` in a model's config but its open-source build has no log
collector to write with ("No request-logger-creator", tensorflow/serving #408, #1846, #2069).
Liveri writes TFRecord files of PredictionLog protos, TF Serving's warmup format, so real traffic
closes the loop: a log file (of at most 1,000 records) works as a version's
`assets.extra/tf_serving_warmup_requests`, as `liveri bench --requests FILE`'s load and as
`liveri export --calibration_requests FILE`'s int8 calibration examples.

    logging_config {
      log_collector_config { filename_prefix: "/var/log/liveri/digits" }   # type: "" or "tfrecord"
      sampling_config { sampling_rate: 0.1 }
    }

Files are `PREFIX-NNNNNN.tfrecord`, numbered on from those already there. The file being written
is `….tfrecord.tmp`, renamed once it holds `--request_log_max_file_bytes`, has been open
`FILE_SECONDS`, or the model's log closes (config change, stop), so a reader never sees half a
file. After each rename the prefix's oldest files are deleted until all of them hold at most
`--request_log_max_total_bytes`. One thread per model writes, from a bounded queue: a request
never waits for the disk; a record that finds the queue full is dropped and counted in
`liveri_serve_request_log_records_total{model, status="dropped"}`.

By hand: TensorFlow's TFRecordWriter writes the records, but no library rotates and bounds
TFRecord files (Python's rotating log handlers write text lines).
"""

from __future__ import annotations

import logging
import os
import queue
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tensorflow_serving.apis import prediction_log_pb2
from tensorflow_serving.config import model_server_config_pb2

from liveri.errors import UsageError

log = logging.getLogger("liveri.serve")

SUFFIX = ".tfrecord"
FILE_SECONDS = 60.0
QUEUE_RECORDS = 1024
DEFAULT_FILE_BYTES = 64 << 20
DEFAULT_TOTAL_BYTES = 1 << 30
_IDLE = object()  # no record came within a second: only the open file's age is looked at


@dataclass(frozen=True)
class LogSettings:
    """One model's `logging_config`."""

    filename_prefix: str
    sampling_rate: float


def settings_from_config(model: model_server_config_pb2.ModelConfig) -> LogSettings | None:
    """The model's `logging_config`, checked; None when it asks for no logging."""
    if not model.HasField("logging_config"):
        return None
    config = model.logging_config
    where = f"model {model.name}: logging_config"
    rate = config.sampling_config.sampling_rate
    if not 0.0 <= rate <= 1.0:
        raise UsageError(f"{where}.sampling_config.sampling_rate: expected a number in [0, 1], "
                         f"got {rate}")
    collector = config.log_collector_config
    if collector.type not in ("", "tfrecord"):
        raise UsageError(f"{where}.log_collector_config.type: expected \"\" or \"tfrecord\" "
                         f"(PredictionLog TFRecord files), got {collector.type!r}")
    if not collector.filename_prefix:
        raise UsageError(f"{where}.log_collector_config.filename_prefix: expected a path prefix "
                         "for the log files, e.g. /var/log/liveri/MODEL")
    return LogSettings(collector.filename_prefix, rate) if rate > 0 else None


def _numbered(prefix: str) -> list[tuple[int, str]]:
    """The prefix's finished files, oldest first: (number, path)."""
    folder, stem = os.path.split(prefix)
    pattern = re.compile(re.escape(stem) + r"-(\d{6,})" + re.escape(SUFFIX) + "$")
    try:
        names = os.listdir(folder or ".")
    except FileNotFoundError:
        return []
    found = [(int(m[1]), os.path.join(folder, n)) for n in names if (m := pattern.match(n))]
    return sorted(found)


class RequestLog:
    """One model's log: `offer` a record (never blocks); a thread writes and rotates files."""

    def __init__(self, model: str, settings: LogSettings, max_file_bytes: int = DEFAULT_FILE_BYTES,
                 max_total_bytes: int = DEFAULT_TOTAL_BYTES,
                 on_record: Callable[[str], None] = lambda status: None) -> None:
        self.model = model
        self.settings = settings
        self._max_file_bytes = max_file_bytes
        self._max_total_bytes = max_total_bytes
        self._on_record = on_record
        self._queue: queue.Queue = queue.Queue(QUEUE_RECORDS)
        folder = os.path.dirname(settings.filename_prefix)
        try:
            os.makedirs(folder or ".", exist_ok=True)
        except OSError as exc:
            raise UsageError(f"model {model}: logging_config.log_collector_config."
                             f"filename_prefix: cannot create {folder}: {exc.strerror}") from None
        existing = _numbered(settings.filename_prefix)
        self._next = existing[-1][0] + 1 if existing else 0
        self._thread = threading.Thread(target=self._write_all, name=f"liveri-log-{model}",
                                        daemon=True)
        self._thread.start()

    def sampled(self) -> bool:
        return random.random() < self.settings.sampling_rate

    def offer(self, record: prediction_log_pb2.PredictionLog) -> None:
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self._on_record("dropped")

    def close(self) -> None:
        """Write what is queued, finish the open file and stop the thread."""
        self._queue.put(None)
        self._thread.join(timeout=30)

    def _write_all(self) -> None:
        file = None
        while True:
            try:
                record = self._queue.get(timeout=1.0)
            except queue.Empty:
                record = _IDLE
            if file is not None and (record is None or file.full(self._max_file_bytes)):
                self._finish(file)
                file = None
            if record is None:
                return
            if record is not _IDLE:
                file = self._write(file, record)

    def _write(self, file: _File | None, record: prediction_log_pb2.PredictionLog
               ) -> _File | None:
        try:
            if file is None:
                file = _File(f"{self.settings.filename_prefix}-{self._next:06d}{SUFFIX}")
                self._next += 1
            file.write(record.SerializeToString())
            self._on_record("written")
            return file
        except OSError as exc:  # a full or gone disk must not take the server down
            self._on_record("dropped")
            log.error("request log of %s: %s", self.model, exc)
            return None

    def _finish(self, file: _File) -> None:
        try:
            file.finish()
            self._bound_disk()
        except OSError as exc:
            log.error("request log of %s: %s", self.model, exc)

    def _bound_disk(self) -> None:
        """Delete the oldest finished files until they hold at most max_total_bytes."""
        files = [(path, os.path.getsize(path)) for _, path in
                 _numbered(self.settings.filename_prefix)]
        total = sum(size for _, size in files)
        for path, size in files[:-1]:  # the newest file stays, whatever its size
            if total <= self._max_total_bytes:
                break
            os.remove(path)
            total -= size


class _File:
    """The file being written, under its .tmp name until `finish` renames it."""

    def __init__(self, path: str) -> None:
        import tensorflow as tf

        self.path = path
        self._writer = tf.io.TFRecordWriter(path + ".tmp")
        self._opened = time.monotonic()
        self._bytes = 0

    def write(self, data: bytes) -> None:
        self._writer.write(data)
        self._bytes += len(data) + 16  # TFRecord framing: length, two CRCs

    def full(self, max_bytes: int) -> bool:
        return self._bytes >= max_bytes or time.monotonic() - self._opened >= FILE_SECONDS

    def finish(self) -> None:
        self._writer.close()
        os.replace(self.path + ".tmp", self.path)


class RequestLogs:
    """The server's logs by model name: `sync` with the model config, `record` from requests."""

    def __init__(self, max_file_bytes: int = DEFAULT_FILE_BYTES,
                 max_total_bytes: int = DEFAULT_TOTAL_BYTES,
                 on_record: Callable[[str, str], None] = lambda model, status: None) -> None:
        self._sizes = (max_file_bytes, max_total_bytes)
        self._on_record = on_record
        self._logs: dict[str, RequestLog] = {}
        self._lock = threading.Lock()

    def sync(self, settings: dict[str, LogSettings | None]) -> None:
        """Open, reopen (changed settings) or close each model's log to match `settings`."""
        with self._lock:
            for name in list(self._logs):
                wanted = settings.get(name)
                if wanted != self._logs[name].settings:
                    self._logs.pop(name).close()
            for name, wanted in settings.items():
                if wanted is not None and name not in self._logs:
                    self._logs[name] = RequestLog(
                        name, wanted, *self._sizes,
                        on_record=lambda status, n=name: self._on_record(n, status))

    def record(self, kind: str, servable: Any, exchange: Callable[[], tuple[Any, Any]]) -> None:
        """Log (if sampled) one answered request of `servable`; `exchange()` builds the request
        and response protos, only when sampled."""
        request_log = self._logs.get(servable.name)
        if request_log is None or not request_log.sampled():
            return
        entry = prediction_log_pb2.PredictionLog()
        request, answer = exchange()
        spec = entry.log_metadata.model_spec
        spec.CopyFrom(answer.model_spec if kind != "multi_inference"
                      else answer.results[0].model_spec)
        entry.log_metadata.sampling_config.sampling_rate = request_log.settings.sampling_rate
        body = getattr(entry, f"{kind}_log")
        body.request.CopyFrom(request)
        body.response.CopyFrom(answer)
        request_log.offer(entry)

    def close(self) -> None:
        self.sync({})


def record(kind: str, servable: Any, exchange: Callable[[], tuple[Any, Any]]) -> None:
    """Log one answered request if its servable's server logs its model (see RequestLogs)."""
    logs = servable.request_logs
    if logs is not None:
        logs.record(kind, servable, exchange)

