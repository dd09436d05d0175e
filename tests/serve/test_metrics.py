"""The server's metrics on their own: what a Prometheus scrape reads after requests and queueing."""

from __future__ import annotations

from liveri.serve.metrics import ServingMetrics
from prometheus_client.parser import text_string_to_metric_families


def _samples(metrics: ServingMetrics) -> dict[tuple, float]:
    out = {}
    for family in text_string_to_metric_families(metrics.text().decode()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_latency_histogram_is_cumulative_per_label_set():
    metrics = ServingMetrics()
    for seconds in (0.0002, 0.0007, 0.0007, 30.0):
        metrics.observe_request("digits", "1", "serving_default", "predict", "OK", seconds)
    metrics.observe_request("digits", "1", "serving_default", "predict", "INVALID_ARGUMENT", 0.001)
    samples = _samples(metrics)
    ok = (("method", "predict"), ("model", "digits"), ("signature", "serving_default"),
          ("status", "OK"), ("version", "1"))

    def bucket(le: str) -> float:
        return samples[("liveri_serve_request_latency_seconds_bucket",
                        tuple(sorted((*ok, ("le", le)))))]

    assert bucket("0.0001") == 0 and bucket("0.00025") == 1 and bucket("0.001") == 3
    assert bucket("10.0") == 3 and bucket("+Inf") == 4
    assert samples[("liveri_serve_request_latency_seconds_count", ok)] == 4
    assert abs(samples[("liveri_serve_request_latency_seconds_sum", ok)] - 30.0016) < 1e-9
    assert samples[("liveri_serve_requests_total", ok)] == 4
    failed = tuple(sorted({**dict(ok), "status": "INVALID_ARGUMENT"}.items()))
    assert samples[("liveri_serve_requests_total", failed)] == 1


def test_queue_depth_sums_the_watched_queues_until_unwatched():
    metrics = ServingMetrics()
    depths = {"v1": 3, "v2": 4}
    unwatch_v1 = metrics.watch_queue("digits", "serving_default", lambda: depths["v1"])
    metrics.watch_queue("digits", "serving_default", lambda: depths["v2"])
    key = ("liveri_serve_batch_queue_depth", (("model", "digits"), ("signature", "serving_default")))
    assert _samples(metrics)[key] == 7
    depths["v2"] = 0
    unwatch_v1()
    assert _samples(metrics)[key] == 0
