"""The measuring pieces on calls whose real duration is known (sleeps), so each figure can fail."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from liveri.benchmarks import loadgen
from liveri.benchmarks.inputs import tile_batch
from liveri.benchmarks.stats import summarize
from liveri.benchmarks.timing import SamplePlan, sample_latencies

from liveri.request_records import read_tfrecords


def test_summary_percentiles_and_throughput():
    summary = summarize(np.arange(1, 101) / 1000.0, examples_per_call=8)
    assert summary["p50_ms"] == pytest.approx(50.5)
    assert summary["p90_ms"] == pytest.approx(90.1)
    assert summary["p99_ms"] == pytest.approx(99.01)
    assert summary["mean_ms"] == pytest.approx(50.5)
    assert summary["throughput"] == pytest.approx(100 * 8 / 5.05)


def test_sampling_times_the_call_in_rounds_after_warmup():
    calls = []

    def call():
        calls.append(1)
        time.sleep(0.002)

    rounds = sample_latencies(call, SamplePlan(warmup_s=0.01, seconds=0.12, rounds=3,
                                               min_samples=30))
    assert len(rounds) == 3 and all(len(r) >= 10 for r in rounds)
    pooled = np.concatenate(rounds)
    assert 0.002 <= np.median(pooled) < 0.02
    assert len(calls) > pooled.size  # warm-up calls ran and were not recorded


def test_closed_loop_throughput_grows_with_concurrency():
    def call():
        time.sleep(0.005)

    one = loadgen.closed_loop(call, 1, seconds=0.3, warmup_s=0.02)
    four = loadgen.closed_loop(call, 4, seconds=0.3, warmup_s=0.02)
    assert 0.005 <= np.median(one.latencies_s) < 0.03
    assert four.summary()["throughput"] > 2 * one.summary()["throughput"]
    assert one.errors == four.errors == 0


def test_closed_loop_counts_failures_without_stopping():
    def call():
        time.sleep(0.001)
        raise RuntimeError("UNAVAILABLE")

    run = loadgen.closed_loop(call, 2, seconds=0.05, warmup_s=0.0)
    assert run.errors > 0 and not run.latencies_s and "UNAVAILABLE" in run.first_error


def test_poisson_arrivals_meet_the_offered_rate_and_latency_counts_from_arrival():
    with ThreadPoolExecutor(8) as pool:
        run = loadgen.poisson_open_loop(lambda: pool.submit(time.sleep, 0.004), rate_qps=200,
                                        seconds=0.5, seed=1)
    assert run.errors == 0
    assert 60 <= len(run.latencies_s) <= 160  # Poisson count around 100
    assert min(run.latencies_s) >= 0.004
    assert len(run.latencies_s) / run.wall_s == pytest.approx(200, rel=0.5)


def test_highest_rate_within_budget_ignores_points_over_budget_or_with_errors():
    points = [{"offered_qps": 100, "samples": 50, "p99_ms": 3.0, "errors": 0},
              {"offered_qps": 200, "samples": 50, "p99_ms": 9.0, "errors": 0},
              {"offered_qps": 300, "samples": 50, "p99_ms": 4.0, "errors": 2},
              {"offered_qps": 400, "samples": 50, "p99_ms": 30.0, "errors": 0}]
    assert loadgen.highest_rate_within(points, 10.0) == 200
    assert loadgen.highest_rate_within(points, 1.0) is None


def test_tfrecords_are_read_as_tensorflow_writes_them(tmp_path):
    tf = pytest.importorskip("tensorflow")
    records = [b"", b"a", bytes(range(256)) * 3]
    with tf.io.TFRecordWriter(str(tmp_path / "r")) as writer:
        for r in records:
            writer.write(r)
    assert read_tfrecords(tmp_path / "r") == records


def test_a_batch_repeats_the_real_examples():
    examples = {"pixels": np.arange(3 * 4).reshape(3, 2, 2)}
    batch = tile_batch(examples, 8)["pixels"]
    assert batch.shape == (8, 2, 2)
    assert (batch[3] == examples["pixels"][0]).all() and (batch[7] == examples["pixels"][1]).all()
