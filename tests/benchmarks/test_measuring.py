"""The measuring pieces on calls whose real duration is known (sleeps), so each figure can fail."""

from __future__ import annotations

import time

import numpy as np
import pytest
from liveri.benchmarks import closed_loop as loops
from liveri.benchmarks import loadgen
from liveri.benchmarks.inputs import tile_batch
from liveri.benchmarks.server_bench import max_valid_rate
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

    one = loops.closed_loop(call, 1, seconds=0.3, warmup_s=0.02)
    four = loops.closed_loop(call, 4, seconds=0.3, warmup_s=0.02)
    assert 0.005 <= np.median(one.latencies_s) < 0.03
    assert four.summary()["throughput"] > 2 * one.summary()["throughput"]
    assert one.errors == four.errors == 0


def test_closed_loop_counts_failures_without_stopping():
    def call():
        time.sleep(0.001)
        raise RuntimeError("UNAVAILABLE")

    run = loops.closed_loop(call, 2, seconds=0.05, warmup_s=0.0)
    assert run.errors > 0 and not run.latencies_s and "UNAVAILABLE" in run.first_error


class Sleeper:
    """A system whose batches take a known time: 1 ms plus 0.1 ms per sample."""

    def __init__(self, fail_every: int = 0) -> None:
        self.batches: list[int] = []
        self.fail_every = fail_every
        self.system = loadgen.InProcess(self.call, {"x": np.arange(4)}, max_batch=32)

    def call(self, feed):
        self.batches.append(len(feed["x"]))
        time.sleep(0.001 + 0.0001 * len(feed["x"]))
        if self.fail_every and len(self.batches) % self.fail_every == 0:
            raise RuntimeError("UNAVAILABLE")


QUICK = loadgen.LoadPlan(min_duration_s=0.2, max_duration_s=5.0)


def test_loadgen_single_and_multi_stream_time_the_known_sleep_and_judge_the_run():
    sleeper = Sleeper()
    single = loadgen.run(sleeper.system, 4, loadgen.Scenario("single_stream"), QUICK)
    assert single["validity"] == "VALID" and single["queries"] >= loadgen.EARLY_STOPPING_QUERIES
    assert 1.1 <= single["p50_ms"] < 5 and single["early_stopping_p99_ms"] >= single["p99_ms"]
    assert set(sleeper.batches) == {1}
    sleeper.batches.clear()
    multi = loadgen.run(sleeper.system, 4, loadgen.Scenario("multi_stream"), QUICK)
    assert set(sleeper.batches) == {8} and multi["samples_per_query"] == 8
    assert multi["p50_ms"] > single["p50_ms"] and multi["samples_per_s"] > single["samples_per_s"]


def test_loadgen_server_scenario_holds_a_light_rate_and_is_invalid_when_overloaded(tmp_path):
    sleeper = Sleeper()
    light = loadgen.run(sleeper.system, 4, loadgen.Scenario("server", 200, 100.0), QUICK,
                        tmp_path / "light.txt")
    assert light["validity"] == "VALID" and light["samples_per_s"] == pytest.approx(200, rel=0.3)
    assert "Scenario : Server" in (tmp_path / "light.txt").read_text()
    # a lone worker answers ~900 lone queries/s; at 5,000/s the queue grows past any p99 target
    heavy = loadgen.run(sleeper.system, 4, loadgen.Scenario("server", 5000, 2.0), QUICK)
    sleeper.system.close()
    assert heavy["validity"] == "INVALID" and "latency target" in heavy["invalid_because"]
    assert max(sleeper.batches) > 1  # waiting queries were joined into batches


def test_loadgen_offline_answers_in_batches_and_finds_its_own_expected_rate():
    sleeper = Sleeper()
    offline = loadgen.run(sleeper.system, 4, loadgen.Scenario("offline", target_qps=10), QUICK)
    assert max(sleeper.batches) == QUICK.offline_batch
    assert offline["validity"] == "VALID"  # re-run at LoadGen's measured rate
    assert offline["samples_per_s"] > 5000  # 32 samples per 4.2 ms batch: ~7,600/s


def test_loadgen_counts_failed_queries_and_calls_the_run_invalid():
    sleeper = Sleeper(fail_every=10)
    run = loadgen.run(sleeper.system, 4, loadgen.Scenario("single_stream"), QUICK)
    assert run["errors"] >= 60 and "UNAVAILABLE" in run["first_error"]
    assert run["validity"] == "INVALID"


def test_highest_valid_rate_is_the_server_answer():
    points = [{"offered_qps": 100, "validity": "VALID"}, {"offered_qps": 200, "validity": "VALID"},
              {"offered_qps": 300, "validity": "INVALID"}]
    assert max_valid_rate(points) == 200
    assert max_valid_rate(points[2:]) is None


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
