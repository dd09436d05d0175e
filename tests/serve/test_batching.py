"""Dynamic batching on its own: merging, padding, full queues, deadlines, parameter files."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import urllib.error
import urllib.request

import grpc
import numpy as np
import pytest
import tensorflow as tf
from liveri.serve.batching import (
    BatchingConfig,
    BatchingOptions,
    BatchScheduler,
    parse_batching_parameters,
)
from liveri.serve.errors import ServingError
from liveri.serve.server import ModelServer
from tensorflow_serving.apis import prediction_service_pb2_grpc

from liveri.errors import UsageError
from tests.serve.serve_helpers import digits_reference, digits_request, install, sample_pixels


class Model:
    """A real (numpy) model that records the batch sizes it ran and can be made slow."""

    def __init__(self, delay: float = 0.0) -> None:
        self.batches: list[int] = []
        self.delay = delay
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, inputs):
        self.gate.wait()
        time.sleep(self.delay)
        x = inputs["x"]
        self.batches.append(len(x))
        return {"y": x * 2 + 1}


def concurrently(fn, count):
    results, errors = [None] * count, [None] * count

    def run(i):
        try:
            results[i] = fn(i)
        except ServingError as exc:
            errors[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, errors


class HeldModel:
    """Wraps a served signature's real batch model so it waits at a gate the test opens; says
    when a batch has entered it and records each batch's size."""

    def __init__(self, signature) -> None:
        self.gate, self.entered, self.ran = threading.Event(), threading.Event(), []
        self._real = signature.batcher._run
        signature.batcher._run = self

    def __call__(self, inputs):
        self.entered.set()
        self.gate.wait(30)
        self.ran.append(len(inputs["pixels"]))
        return self._real(inputs)


@contextlib.contextmanager
def digits_server(tmp_path, built_models, batching: str, **options):
    """A ModelServer of the digits model batching by the BatchingParameters text `batching`
    (in tmp_path/batching.txt): gRPC and REST on free ports, no metrics port, no polling,
    unless `options` say otherwise."""
    repo = str(tmp_path / "repo")
    install(built_models["digits"], repo, "digits", 1)
    params = tmp_path / "batching.txt"
    params.write_text(batching)
    settings = {"port": 0, "rest_api_port": 0, "metrics_port": None,
                "file_system_poll_wait_seconds": 0, **options}
    with ModelServer(model_repo=repo, batching_parameters_file=str(params), **settings) as server:
        yield server


def wait_until(condition, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the server"
        time.sleep(0.01)


def test_concurrent_requests_run_as_one_batch_and_get_their_own_rows():
    model = Model()
    model.gate.clear()
    options = BatchingOptions(max_batch_size=64, batch_timeout_micros=200_000,
                              num_batch_threads=1)
    scheduler = BatchScheduler(model, BatchingConfig(options))
    threading.Timer(0.05, model.gate.set).start()
    results, errors = concurrently(
        lambda i: scheduler.submit({"x": np.full((2, 3), i, np.float32)}, None), 8)
    scheduler.stop()
    assert errors == [None] * 8
    for i, result in enumerate(results):
        np.testing.assert_array_equal(result["y"], np.full((2, 3), 2 * i + 1, np.float32))
    assert sum(model.batches) == 16 and len(model.batches) < 8


def test_a_lone_request_runs_the_model_in_its_own_thread():
    threads = []

    def model(inputs):
        threads.append(threading.get_ident())
        return {"y": inputs["x"] + 1}

    scheduler = BatchScheduler(model, BatchingConfig(BatchingOptions(num_batch_threads=2)))
    for _ in range(3):
        np.testing.assert_array_equal(scheduler.submit({"x": np.ones(2)}, None)["y"], [2, 2])
    scheduler.stop()
    assert threads == [threading.get_ident()] * 3  # no hand-off to another thread


def test_requests_queued_behind_a_running_batch_run_together_next():
    model = Model()
    model.gate.clear()
    scheduler = BatchScheduler(model, BatchingConfig(BatchingOptions(num_batch_threads=1)))
    first = threading.Thread(target=scheduler.submit, args=({"x": np.ones(1)}, None))
    first.start()
    time.sleep(0.1)  # the only batch slot is now held by `first`, stuck in the model
    threading.Timer(0.3, model.gate.set).start()
    results, errors = concurrently(
        lambda i: scheduler.submit({"x": np.full((1, 2), i, np.float32)}, None), 6)
    first.join()
    scheduler.stop()
    assert errors == [None] * 6
    for i, result in enumerate(results):
        np.testing.assert_array_equal(result["y"], np.full((1, 2), 2 * i + 1, np.float32))
    assert model.batches == [1, 6]  # the six queued behind it ran as one batch


def test_batches_are_padded_to_allowed_sizes():
    model = Model()
    options = BatchingOptions(max_batch_size=8, allowed_batch_sizes=(4, 8), num_batch_threads=1)
    scheduler = BatchScheduler(model, BatchingConfig(options))
    answer = scheduler.submit({"x": np.arange(3, dtype=np.float32)}, None)
    scheduler.stop()
    np.testing.assert_array_equal(answer["y"], [1, 3, 5])
    assert model.batches == [4]


class SequenceModel:
    """A real sequence model in numpy: running sums over time ([B, T] -> [B, T]) and each
    sequence's first value ([B]), recording the (batch, time) shapes it ran."""

    def __init__(self) -> None:
        self.shapes: list[tuple[int, ...]] = []
        self.gate = threading.Event()

    def __call__(self, inputs):
        self.gate.wait()
        tokens = inputs["tokens"]
        self.shapes.append(tokens.shape)
        return {"running_sum": np.cumsum(tokens, axis=1), "first": tokens[:, 0]}


@pytest.mark.parametrize("pad", [True, False])
def test_variable_length_requests_share_a_padded_batch_and_get_their_own_lengths(pad):
    model = SequenceModel()
    options = BatchingOptions(max_batch_size=16, batch_timeout_micros=300_000,
                              num_batch_threads=1, pad_variable_length_inputs=pad)
    scheduler = BatchScheduler(model, BatchingConfig(options))
    threading.Timer(0.1, model.gate.set).start()
    lengths = [2, 5, 3, 5]
    sequences = [np.arange(1, n + 1, dtype=np.int32)[None].repeat(i + 1, 0) * (i + 1)
                 for i, n in enumerate(lengths)]
    results, errors = concurrently(lambda i: scheduler.submit({"tokens": sequences[i]}, None), 4)
    scheduler.stop()
    assert errors == [None] * 4
    for tokens, result in zip(sequences, results):
        # Exactly what the model answers for the request alone: no padding shows.
        np.testing.assert_array_equal(result["running_sum"], np.cumsum(tokens, axis=1))
        np.testing.assert_array_equal(result["first"], tokens[:, 0])
    if pad:
        assert model.shapes == [(10, 5)]  # one batch, padded to the longest sequence
    else:
        assert len(model.shapes) >= 3 and all(s[0] < 10 for s in model.shapes)


def test_full_queue_is_resource_exhausted_at_once():
    model = Model()
    model.gate.clear()
    options = BatchingOptions(max_batch_size=1, max_enqueued_batches=2, num_batch_threads=1)
    scheduler = BatchScheduler(model, BatchingConfig(options))
    started = time.monotonic()
    results, errors = concurrently(
        lambda i: (time.sleep(0.02 * i), scheduler.submit({"x": np.ones(1)}, None))[1]
        if i < 4 else (time.sleep(0.2), model.gate.set()), 5)
    scheduler.stop()
    codes = [e.code for e in errors if e is not None]
    assert grpc.StatusCode.RESOURCE_EXHAUSTED in codes
    assert time.monotonic() - started < 5


def test_expired_request_never_reaches_the_model():
    model = Model()
    model.gate.clear()
    scheduler = BatchScheduler(model, BatchingConfig(BatchingOptions(num_batch_threads=1)))
    blocker = threading.Thread(target=scheduler.submit, args=({"x": np.ones(1)}, None))
    blocker.start()
    time.sleep(0.05)  # the only batch thread is now stuck in the model
    with pytest.raises(ServingError) as caught:
        scheduler.submit({"x": np.full(5, 9.0)}, time.monotonic() + 0.1)
    assert caught.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    model.gate.set()
    blocker.join()
    scheduler.stop()
    assert model.batches == [1]  # the expired request of 5 never ran


def test_task_larger_than_max_batch_is_invalid():
    scheduler = BatchScheduler(Model(), BatchingConfig(BatchingOptions(max_batch_size=4)))
    with pytest.raises(ServingError) as caught:
        scheduler.submit({"x": np.ones(5)}, None)
    scheduler.stop()
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "larger than maximum input batch size 4" in caught.value.message


def test_parameters_file_text():
    options = parse_batching_parameters(
        "max_batch_size { value: 8 }\nbatch_timeout_micros { value: 500 }\n"
        "num_batch_threads { value: 3 }\nmax_enqueued_batches { value: 7 }\n"
        "allowed_batch_sizes: 2\nallowed_batch_sizes: 8\npad_variable_length_inputs: true\n")
    assert options == BatchingOptions(8, 500, 7, 3, (2, 8), True)
    with pytest.raises(UsageError, match="Error parsing text-format .*BatchingParameters.*2:"):
        parse_batching_parameters("max_batch_size { value: 8 }\nmax_batch_size: oops\n")
    with pytest.raises(UsageError, match="must equal max_batch_size"):
        parse_batching_parameters("max_batch_size { value: 8 } allowed_batch_sizes: 4")


def test_server_with_batching_answers_concurrent_clients(tmp_path, built_models):
    params = tmp_path / "batching.txt"
    with digits_server(tmp_path, built_models,
                       "max_batch_size { value: 32 }\nbatch_timeout_micros { value: 2000 }\n",
                       rest_api_port=None, metrics_port=0, enable_batching=True,
                       file_system_poll_wait_seconds=0.2) as server:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(
            grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}"))

        def ask(i):
            pixels = sample_pixels(1 + i % 3, seed=i)
            answer = stub.Predict(digits_request(pixels), timeout=10)
            return np.array_equal(tf.make_ndarray(answer.outputs["classes"]),
                                  digits_reference(0, pixels))

        results, errors = concurrently(ask, 16)
        assert errors == [None] * 16 and all(results)
        text = server.metrics.text().decode()
        assert 'liveri_serve_batch_size_count{model="digits",signature="serving_default"}' in text
        # A changed parameters file takes effect without a restart.
        params.write_text("max_batch_size { value: 4 }\n")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and server._batching.options.max_batch_size != 4:
            time.sleep(0.05)
        with pytest.raises(grpc.RpcError) as caught:
            stub.Predict(digits_request(sample_pixels(5)), timeout=10)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert ask(0)


def test_coroutine_requests_share_a_batch_run_off_the_event_loop():
    model = Model()
    model.gate.clear()
    threads = []

    def run(inputs):
        threads.append(threading.get_ident())
        return model(inputs)

    options = BatchingOptions(max_batch_size=64, num_batch_threads=1)
    scheduler = BatchScheduler(run, BatchingConfig(options))

    async def main():
        threading.Timer(0.1, model.gate.set).start()  # the first batch holds the rest back
        return await asyncio.gather(*(
            scheduler.submit_async({"x": np.full((2, 3), i, np.float32)}, None)
            for i in range(8)))

    loop_thread = []
    results = asyncio.run(_on_loop(main, loop_thread))
    scheduler.stop()
    for i, result in enumerate(results):
        np.testing.assert_array_equal(result["y"], np.full((2, 3), 2 * i + 1, np.float32))
    assert sum(model.batches) == 16 and len(model.batches) < 8
    assert loop_thread[0] not in threads  # the event loop never ran the model


async def _on_loop(main, seen):
    seen.append(threading.get_ident())
    return await main()


def test_a_cancelled_coroutine_request_never_reaches_the_model():
    model = Model()
    model.gate.clear()
    scheduler = BatchScheduler(model, BatchingConfig(BatchingOptions(num_batch_threads=1)))

    async def main():
        first = asyncio.ensure_future(scheduler.submit_async({"x": np.ones(1)}, None))
        await asyncio.sleep(0.05)  # the only batch slot is now stuck in the model
        with pytest.raises(asyncio.TimeoutError):  # the caller gives up: its task is cancelled
            await asyncio.wait_for(scheduler.submit_async({"x": np.full(5, 9.0)}, None), 0.1)
        model.gate.set()
        return await first

    np.testing.assert_array_equal(asyncio.run(main())["y"], [3.0])
    scheduler.stop()
    assert model.batches == [1]  # the cancelled request of 5 never ran


def test_requests_past_their_deadline_in_the_queue_cost_no_model_time(tmp_path, built_models):
    # gRPC: the client's deadline, DEADLINE_EXCEEDED; REST: --rest_api_timeout_in_ms, 504.
    with digits_server(tmp_path, built_models,
                       "max_batch_size { value: 8 }\nnum_batch_threads { value: 1 }\n",
                       rest_api_timeout_in_ms=300) as server:
        signature = server.manager.loaded_servables()[0].signatures["serving_default"]
        held = HeldModel(signature)
        stub = prediction_service_pb2_grpc.PredictionServiceStub(
            grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}"))
        first = stub.Predict.future(digits_request(sample_pixels(1)), timeout=30)
        assert held.entered.wait(10)  # the only batch thread now holds `first`'s batch
        with pytest.raises(grpc.RpcError) as caught:
            stub.Predict(digits_request(sample_pixels(3)), timeout=0.3)
        assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        url = f"http://127.0.0.1:{server.rest_port}/v1/models/digits:predict"
        body = json.dumps({"instances": sample_pixels(4).tolist()}).encode()
        started = time.monotonic()
        with pytest.raises(urllib.error.HTTPError) as rest_caught:
            urllib.request.urlopen(urllib.request.Request(url, data=body), timeout=30)
        assert rest_caught.value.code == 504
        assert "error" in json.loads(rest_caught.value.read())
        assert time.monotonic() - started < 5
        held.gate.set()
        assert np.array_equal(tf.make_ndarray(first.result().outputs["classes"]),
                              digits_reference(0, sample_pixels(1)))
        pixels = sample_pixels(2, seed=7)
        answer = stub.Predict(digits_request(pixels), timeout=10)
        assert np.array_equal(tf.make_ndarray(answer.outputs["classes"]),
                              digits_reference(0, pixels))
        with urllib.request.urlopen(urllib.request.Request(
                url, data=json.dumps({"instances": pixels.tolist()}).encode()), timeout=30) as ok:
            rows = json.loads(ok.read())["predictions"]
        assert [row["classes"] for row in rows] == digits_reference(0, pixels).tolist()
        assert held.ran == [1, 2, 2]  # the expired requests of 3 and 4 cost no model time


def test_rest_and_grpc_requests_share_one_batching_queue(tmp_path, built_models):
    # REST requests wait in threads, gRPC ones as coroutines: both kinds lead and join batches.
    with digits_server(tmp_path, built_models,
                       "max_batch_size { value: 16 }\nbatch_timeout_micros { value: 5000 }\n"
                       "num_batch_threads { value: 1 }\n") as server:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(
            grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}"))

        def ask(i):
            pixels = sample_pixels(1 + i % 2, seed=i)
            if i % 2:
                answer = stub.Predict(digits_request(pixels), timeout=10)
                return np.array_equal(tf.make_ndarray(answer.outputs["classes"]),
                                      digits_reference(0, pixels))
            body = json.dumps({"instances": pixels.tolist()}).encode()
            request = urllib.request.Request(
                f"http://127.0.0.1:{server.rest_port}/v1/models/digits:predict", data=body)
            with urllib.request.urlopen(request, timeout=10) as answer:
                rows = json.loads(answer.read())["predictions"]
            return [row["classes"] for row in rows] == digits_reference(0, pixels).tolist()

        def batches():
            text = server.metrics.text().decode()
            return float(text.split('liveri_serve_batch_size_count{model="digits",'
                                    'signature="serving_default"} ')[1].split()[0])

        before = batches()
        for _ in range(3):
            results, errors = concurrently(ask, 12)
            assert errors == [None] * 12 and all(results)
        assert batches() - before < 36  # requests shared batches


def test_overload_is_refused_at_once_over_grpc_and_rest_and_the_server_recovers(
        tmp_path, built_models):
    with digits_server(tmp_path, built_models,
                       "max_batch_size { value: 2 }\nmax_enqueued_batches { value: 1 }\n"
                       "batch_timeout_micros { value: 0 }\nnum_batch_threads { value: 1 }\n"
                       ) as server:
        signature = server.manager.loaded_servables()[0].signatures["serving_default"]
        held = HeldModel(signature)
        gate = held.gate
        stub = prediction_service_pb2_grpc.PredictionServiceStub(
            grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}"))
        pixels = [sample_pixels(1, seed=i) for i in range(3)]
        running = stub.Predict.future(digits_request(pixels[0]), timeout=30)
        assert held.entered.wait(10)  # the only batch thread is held with `running`'s batch
        queued = [stub.Predict.future(digits_request(p), timeout=30) for p in pixels[1:]]
        wait_until(lambda: signature.batcher.queued == 2)  # the queue (one batch of 2) is full
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as refused:
            stub.Predict(digits_request(sample_pixels(1)), timeout=30)
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        body = json.dumps({"instances": sample_pixels(1).tolist()}).encode()
        with pytest.raises(urllib.error.HTTPError) as rest_refused:
            urllib.request.urlopen(urllib.request.Request(
                f"http://127.0.0.1:{server.rest_port}/v1/models/digits:predict", data=body),
                timeout=30)
        assert rest_refused.value.code == 429
        assert time.monotonic() - started < 5, "a full queue must answer at once"
        gate.set()
        for future, sent in zip([running, *queued], pixels):
            assert np.array_equal(tf.make_ndarray(future.result().outputs["classes"]),
                                  digits_reference(0, sent))
        again = sample_pixels(2, seed=9)
        answer = stub.Predict(digits_request(again), timeout=10)
        assert np.array_equal(tf.make_ndarray(answer.outputs["classes"]),
                              digits_reference(0, again))


def test_changing_the_batching_file_under_load_fails_no_request(tmp_path, built_models):
    params = tmp_path / "batching.txt"
    with digits_server(tmp_path, built_models,
                       "max_batch_size { value: 32 }\nbatch_timeout_micros { value: 2000 }\n",
                       rest_api_port=None, file_system_poll_wait_seconds=0.1) as server:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(
            grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}"))
        stop, failures, answered = threading.Event(), [], [0]

        def client(seed: int) -> None:
            while not stop.is_set():
                pixels = sample_pixels(1 + seed % 3, seed=seed)
                try:
                    answer = stub.Predict(digits_request(pixels), timeout=10)
                    if not np.array_equal(tf.make_ndarray(answer.outputs["classes"]),
                                          digits_reference(0, pixels)):
                        failures.append("wrong answer")
                    answered[0] += 1
                except grpc.RpcError as exc:
                    failures.append(exc.code())

        clients = [threading.Thread(target=client, args=(i,)) for i in range(4)]
        for thread in clients:
            thread.start()
        try:
            for size, timeout in ((8, 500), (4, 0), (16, 5000)):
                time.sleep(0.5)
                params.write_text(f"max_batch_size {{ value: {size} }}\n"
                                  f"batch_timeout_micros {{ value: {timeout} }}\n")
                deadline = time.monotonic() + 10
                while (time.monotonic() < deadline
                       and server._batching.options.max_batch_size != size):
                    time.sleep(0.05)
                assert server._batching.options.max_batch_size == size
            time.sleep(0.5)
        finally:
            stop.set()
            for thread in clients:
                thread.join(30)
        assert failures == [] and answered[0] > 20


def _closed_loop(scheduler, clients: int, seconds: float) -> None:
    """`clients` threads, each sending its next request when the last is answered."""
    stop = time.monotonic() + seconds

    def client(i):
        while time.monotonic() < stop:
            x = np.full((1, 2), float(i), np.float32)
            np.testing.assert_array_equal(scheduler.submit({"x": x}, None)["y"], x * 2 + 1)

    concurrently(client, clients)


def test_adaptive_batching_fills_batches_under_load_and_waits_for_no_one_alone():
    """No parameters file: batches grow to the requests in flight, then a lone request runs
    at once again; TF Serving's timeout 0 makes smaller batches of the same load."""
    sizes = {}
    for name, options in (("adaptive", None), ("timeout 0", BatchingOptions())):
        model = Model(delay=0.002)
        scheduler = BatchScheduler(model, BatchingConfig(options))
        _closed_loop(scheduler, 16, 1.0)
        loaded = model.batches[len(model.batches) // 4:]  # once it has seen the load
        sizes[name] = sum(loaded) / len(loaded)
        if name == "adaptive":
            model.batches.clear()
            lone = []
            for _ in range(12):  # one client: the expectation decays, nobody is waited for
                started = time.perf_counter()
                scheduler.submit({"x": np.zeros((1, 2), np.float32)}, None)
                lone.append(time.perf_counter() - started)
            assert model.batches[-6:] == [1] * 6
            assert np.median(lone[-6:]) < 0.002 + 0.0015  # the model's 2 ms, barely more
        scheduler.stop()
    assert sizes["adaptive"] >= 12, sizes  # of 16 in flight
    assert sizes["adaptive"] > 1.3 * sizes["timeout 0"], sizes
