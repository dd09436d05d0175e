"""Prometheus metrics of one server: requests, latency, batching and model loads.

Each server owns its registry, so several servers in one process (tests, benchmarks) never mix
their figures. Labels carry the signature too, which TF Serving's own metrics lack.

Per-request figures are the hot path: a request adds to plain numbers under one lock (about a
tenth of what prometheus_client's labelled children cost, each with its own lock), and a scrape
turns them into Prometheus families (`_RequestCollector`). Queue depths are read from the batch
schedulers at scrape time, so queueing a request costs no metric update at all.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

_LATENCY_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
_BOUNDS = (*map(floatToGoString, _LATENCY_BUCKETS), "+Inf")
_REQUEST_LABELS = ("model", "version", "signature", "method", "status")
_QUEUE_LABELS = ("model", "signature")


class _RequestCollector(Collector):
    """Request counts and latency histograms by label set, kept as plain numbers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # label values -> [count, sum of seconds, count per bucket (the last one is +Inf)]
        self._series: dict[tuple[str, ...], list] = {}

    def observe(self, key: tuple[str, ...], seconds: float) -> None:
        bucket = bisect.bisect_left(_LATENCY_BUCKETS, seconds)
        with self._lock:
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = [0, 0.0, [0] * (len(_LATENCY_BUCKETS) + 1)]
            series[0] += 1
            series[1] += seconds
            series[2][bucket] += 1

    def collect(self) -> Iterator[CounterMetricFamily | HistogramMetricFamily]:
        with self._lock:
            snapshot = [(key, count, total, list(buckets))
                        for key, (count, total, buckets) in self._series.items()]
        requests = CounterMetricFamily(
            "liveri_serve_requests", "Requests answered, by model, version, signature and status",
            labels=_REQUEST_LABELS)
        latency = HistogramMetricFamily(
            "liveri_serve_request_latency_seconds",
            "Time from request arrival to answer, by model, version, signature and status",
            labels=_REQUEST_LABELS)
        for key, count, total, buckets in snapshot:
            requests.add_metric(key, count)
            cumulative, running = [], 0
            for bound, n in zip(_BOUNDS, buckets):
                running += n
                cumulative.append((bound, running))
            latency.add_metric(key, cumulative, total)
        yield requests
        yield latency


class _QueueCollector(Collector):
    """Examples waiting in each batching queue, read from the schedulers when scraped."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[tuple[str, str], list[Callable[[], int]]] = {}

    def add(self, model: str, signature: str, depth: Callable[[], int]) -> Callable[[], None]:
        """Count `depth()` under (model, signature) until the returned function is called."""
        with self._lock:
            self._queues.setdefault((model, signature), []).append(depth)

        def remove() -> None:
            with self._lock:
                self._queues[(model, signature)].remove(depth)

        return remove

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gauge = GaugeMetricFamily("liveri_serve_batch_queue_depth",
                                  "Examples waiting in a batching queue", labels=_QUEUE_LABELS)
        with self._lock:
            queues = [(key, list(depths)) for key, depths in self._queues.items()]
        for key, depths in queues:
            gauge.add_metric(key, sum(depth() for depth in depths))
        yield gauge


class ServingMetrics:
    """The metrics one server exports, and the few calls that update them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._requests = _RequestCollector()
        self.registry.register(self._requests)
        self._queues = _QueueCollector()
        self.registry.register(self._queues)
        self.batch_size = Histogram(
            "liveri_serve_batch_size", "Examples per batch the model ran", ["model", "signature"],
            buckets=_BATCH_BUCKETS, registry=self.registry)
        self.load_seconds = Gauge(
            "liveri_serve_model_load_seconds", "Time to load and warm up a model version",
            ["model", "version"], registry=self.registry)
        self.loads = Counter(
            "liveri_serve_model_loads", "Model version loads, by outcome",
            ["model", "status"], registry=self.registry)
        self.backend_p50 = Gauge(
            "liveri_serve_backend_p50_seconds", "p50 of each backend timed at load "
            "(--liveri_backend=auto); chosen=\"true\" marks the one answering",
            ["model", "version", "signature", "backend", "chosen"], registry=self.registry)
        self.logged = Counter(
            "liveri_serve_request_log_records", "Sampled requests written to the request log, "
            "or dropped (queue full, disk error)", ["model", "status"], registry=self.registry)

    def observe_request(self, model: str, version: str, signature: str, method: str,
                        status: str, seconds: float) -> None:
        self._requests.observe((model, version, signature, method, status), seconds)

    def observe_backend(self, model: str, version: int, choice: Any) -> None:
        """A `backend_choice.BackendChoice`: every candidate's p50, the chosen one marked."""
        for backend, p50_ms in choice.p50_ms.items():
            self.backend_p50.labels(model, str(version), choice.signature, backend,
                                    str(backend == choice.backend).lower()).set(p50_ms / 1e3)

    def watch_queue(self, model: str, signature: str, depth: Callable[[], int]
                    ) -> Callable[[], None]:
        """Report `depth()` as the queue depth of (model, signature); returns the un-watch."""
        return self._queues.add(model, signature, depth)

    def text(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
