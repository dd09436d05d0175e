"""Prometheus metrics of one server: requests, latency, batching and model loads.

Each server owns its registry, so several servers in one process (tests, benchmarks) never mix
their figures. Labels carry the signature too, which TF Serving's own metrics lack.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENCY_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class ServingMetrics:
    """The metrics one server exports, and the few calls that update them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        labels = ["model", "version", "signature", "method", "status"]
        self.requests = Counter(
            "liveri_serve_requests", "Requests answered, by model, version, signature and status",
            labels, registry=self.registry)
        self.latency = Histogram(
            "liveri_serve_request_latency_seconds",
            "Time from request arrival to answer, by model, version, signature and status",
            labels, buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.batch_size = Histogram(
            "liveri_serve_batch_size", "Examples per batch the model ran", ["model", "signature"],
            buckets=_BATCH_BUCKETS, registry=self.registry)
        self.queue_depth = Gauge(
            "liveri_serve_batch_queue_depth", "Examples waiting in a batching queue",
            ["model", "signature"], registry=self.registry)
        self.load_seconds = Gauge(
            "liveri_serve_model_load_seconds", "Time to load and warm up a model version",
            ["model", "version"], registry=self.registry)
        self._children: dict[tuple[str, ...], tuple] = {}
        self.loads = Counter(
            "liveri_serve_model_loads", "Model version loads, by outcome",
            ["model", "status"], registry=self.registry)

    def observe_request(self, model: str, version: str, signature: str, method: str,
                        status: str, seconds: float) -> None:
        key = (model, version, signature, method, status)
        children = self._children.get(key)
        if children is None:  # label lookups cost microseconds; do each once per label set
            children = (self.requests.labels(*key), self.latency.labels(*key))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def text(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
