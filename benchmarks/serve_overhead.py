"""What the model server adds on top of gRPC and the model: issue 9's three speed figures.

Floors come from the same run: the issue's floor, a bare grpc.aio PredictionService that echoes
its input (no model), on asyncio's own loop, and the in-process call of the same SavedModel
signature. A sync gRPC echo and the aio echo on uvloop (the loop `liveri serve` runs on) are
measured too, and (a) and (b) are also printed against each (either can be the faster floor).

    python -m liveri.benchmarks.serve_overhead --model_repo REPO --name MODEL --out DIR

(a) one client, batch 1: server p50 - echo p50 - in-process p50 (goal <= 0.1 ms). The in-process
    call is made at the pace the server sees one client's requests, an echo round trip apart;
    the tight-loop figure is printed beside it;
(b) 32 requests in flight, batching on: throughput as a fraction of the echo's (goal >= 70%);
(c) a model that costs >= 5 ms per call (built here: large matmuls whose cost is mostly reading
    the weights, as in an LM or ASR decoder step): throughput with batching / without, at 32 in
    flight (goal >= 3x).

Each server runs in a child process of its own and the load in another one (stock
`tensorflow_serving.apis` stubs), so no two of them share a GIL. Every round measures each
target's latency once, in turn (in reverse every other round), and the paced floor; throughput
targets take turns of `--slice_s` within the round, so each ratio compares measurements a
fraction of a second apart. A grpc.aio echo that also makes the in-process call measures what
(a)'s two floors add up to in one server. Each figure is the median over `--repeats` rounds of
its value within a round, so what the machine does between rounds (its speed here drifts by 2x
within minutes) cancels out. TensorFlow runs with one intra-op thread in every server and floor
unless told otherwise, except the slow model's servers, which take TensorFlow's choice (a thread
per core); the server runs each call's ops in the calling thread (no inter-op pool).
`--baseline_serve DIR` also measures the server code in DIR (a `serve/` folder, e.g. from a git
worktree of an older commit) side by side with the current one.
Writes DIR/serve_overhead.json and prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

GOAL_OVERHEAD_MS = 0.1
GOAL_THROUGHPUT_FRACTION = 0.7
GOAL_BATCHING_MULTIPLIER = 3.0
SLOW_MODEL_MIN_MS = 5.0
IN_FLIGHT = 32
SLOW_MODEL = "slow_matmuls"
# The aio echo that also makes the in-process floor's call: the sum of (a)'s two floors, as one
# server. What it adds over them is what any Python server running the model inline pays here.
ECHO_WITH_MODEL = "echo_aio+model"
ECHO_UVLOOP = "echo_aio_uvloop"


# -- models -----------------------------------------------------------------------------------

def build_slow_model(export_dir: str, width: int = 2048, layers: int = 8) -> str:
    """A TF2 SavedModel, x [N, width] -> y, whose batch-1 call reads `layers` width^2 weights.

    Reading the weights dominates a small batch (as in an LM or ASR decoder step), so one call
    for 32 requests costs far less than 32 calls: the case batching exists for.
    """
    import tensorflow as tf

    class SlowMatmuls(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            rng = np.random.default_rng(0)
            self.weights = [tf.Variable(rng.normal(0, width ** -0.5, (width, width))
                                        .astype(np.float32)) for _ in range(layers)]

        @tf.function(input_signature=[tf.TensorSpec([None, width], tf.float32, name="x")])
        def serve(self, x: tf.Tensor) -> dict[str, tf.Tensor]:
            for weight in self.weights:
                x = tf.tanh(x @ weight)
            return {"y": x}

    module = SlowMatmuls()
    tf.saved_model.save(module, export_dir, signatures={"serving_default": module.serve})
    return export_dir


def newest_version(model_repo: str, name: str) -> Path:
    folder = Path(model_repo) / name
    versions = [p for p in folder.iterdir() if p.name.isdigit() and p.is_dir()] \
        if folder.is_dir() else []
    if not versions:
        raise SystemExit(f"no version folder under {folder}; expected REPO/MODEL/VERSION")
    return max(versions, key=lambda p: int(p.name))


def example_inputs(version_dir: Path) -> dict[str, np.ndarray]:
    """One real example: the first row of the version's warmup request, else zeros by signature."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    warmup = version_dir / "assets.extra" / "tf_serving_warmup_requests"
    if warmup.exists():
        for record in tf.data.TFRecordDataset(str(warmup)).take(1).as_numpy_iterator():
            log = prediction_log_pb2.PredictionLog.FromString(record)
            if log.WhichOneof("log_type") == "predict_log":
                inputs = log.predict_log.request.inputs
                return {k: tf.make_ndarray(v)[:1] for k, v in inputs.items()}
    function = tf.saved_model.load(str(version_dir)).signatures["serving_default"]
    return {k: np.zeros([1 if d is None else d for d in spec.shape], spec.dtype.as_numpy_dtype)
            for k, spec in function.structured_input_signature[1].items()}


def predict_request_bytes(name: str, inputs: dict[str, np.ndarray]) -> bytes:
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    for key, value in inputs.items():
        request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
    return request.SerializeToString()


def signature_call(version_dir: Path, inputs: dict[str, np.ndarray]) -> Callable[[], None]:
    """The floor's call: the loaded signature called as a user would (tensors in, numpy out)."""
    import tensorflow as tf

    function = tf.saved_model.load(str(version_dir)).signatures["serving_default"]

    def call() -> None:
        outputs = function(**{k: tf.constant(v) for k, v in inputs.items()})
        for value in outputs.values():
            value.numpy()

    for _ in range(50):
        call()
    return call


def session_call(version_dir: Path, inputs: dict[str, np.ndarray]) -> Callable[[], None]:
    """The call the server itself makes (`liveri.serve.loader`: a session callable), for
    (a) against the server's own model cost rather than the user's call."""
    from liveri.serve.loader import load_saved_model

    run = load_saved_model("floor", 1, str(version_dir)).signature("").run_direct

    def call() -> None:
        run(inputs)

    for _ in range(50):
        call()
    return call


def in_process_p50_ms(call: Callable[[], None], calls: int, gap_s: float = 0.0) -> float:
    """The median time of `call` (see `signature_call`), in ms.

    With `gap_s`, the process sleeps that long before each call, as a server with one client
    waits a round trip for each request: on this project's machines a call after such an idle
    gap costs 0.2-0.4 ms more than one in a tight loop (cold caches, an idle CPU waking up),
    whatever code makes it.
    """
    times = []
    for _ in range(calls):
        if gap_s:
            time.sleep(gap_s)
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e3


# -- servers (child processes) ----------------------------------------------------------------

def _echo_response(request: Any) -> Any:
    """A PredictResponse holding the request's own inputs: gRPC and proto costs, no model."""
    from tensorflow_serving.apis import predict_pb2

    response = predict_pb2.PredictResponse()
    response.model_spec.CopyFrom(request.model_spec)
    for key, tensor in request.inputs.items():
        response.outputs[key].CopyFrom(tensor)
    return response


def _echo_servicer() -> Any:
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    class Echo(prediction_service_pb2_grpc.PredictionServiceServicer):
        def Predict(self, request, context):  # noqa: N802 (gRPC's name)
            return _echo_response(request)

    return Echo()


def _start_echo(host: str) -> tuple[int, Callable[[], None]]:
    from concurrent import futures

    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    server = grpc.server(futures.ThreadPoolExecutor(64))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(_echo_servicer(), server)
    port = server.add_insecure_port(f"{host}:0")
    server.start()
    return port, lambda: server.stop(0).wait()


def _aio_echo_servicer(model_call: Callable[[], None] | None = None) -> Any:
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    class AioEcho(prediction_service_pb2_grpc.PredictionServiceServicer):
        """The issue's floor: a bare grpc.aio PredictionService, written as grpc.aio intends
        (a coroutine handler). With `model_call`, it also makes the in-process floor's call
        (same signature, same example inputs) before answering: both floors in one server."""

        async def Predict(self, request, context):  # noqa: N802 (gRPC's name)
            if model_call is not None:
                model_call()
            return _echo_response(request)

    return AioEcho()


def _start_echo_aio(host: str, model_call: Callable[[], None] | None = None,
                    uvloop: bool = False) -> tuple[int, Callable[[], None]]:
    """The aio echo on a thread of its own, on asyncio's loop or (`uvloop`) on libuv's, the
    loop `liveri serve` runs grpc.aio on."""
    import threading

    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    if uvloop:
        import uvloop as uvloop_module

        loop = uvloop_module.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    ready: dict[str, Any] = {}
    started = threading.Event()

    async def main() -> None:
        server = grpc.aio.server()
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
            _aio_echo_servicer(model_call), server)
        ready["port"] = server.add_insecure_port(f"{host}:0")
        await server.start()
        ready["server"] = server
        started.set()
        await server.wait_for_termination()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    started.wait(30)

    # Its daemon thread ends with the process; grpc.aio cannot be stopped from another thread.
    return ready["port"], lambda: None


def _use_serve_dir(serve_dir: str) -> None:
    """Import `liveri.serve` from another folder (the baseline build) in this process."""
    import importlib.util

    import liveri

    spec = importlib.util.spec_from_file_location(
        "liveri.serve", os.path.join(serve_dir, "__init__.py"),
        submodule_search_locations=[serve_dir])
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules["liveri.serve"] = module
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    liveri.serve = module  # type: ignore[attr-defined]


def _set_tf_threads(intra_op: int, inter_op: int) -> None:
    """TensorFlow's thread pools in this process (0: its choice), as the server's flags set them.

    Set directly rather than through the server, so a baseline build without the flags runs
    with the same pools as the current one and as the in-process floor.
    """
    import tensorflow as tf

    if intra_op:
        tf.config.threading.set_intra_op_parallelism_threads(intra_op)
    if inter_op:
        tf.config.threading.set_inter_op_parallelism_threads(inter_op)


def start_model_server(model_repo: str, host: str, batching_file: str | None,
                       enable_batching: bool = False) -> Any:
    """The model server under test, started: gRPC only, on a free port, no polling; batching
    from `batching_file` when given (or the server's default with `enable_batching`). Uses
    whichever `liveri.serve` this process imported."""
    from liveri.serve.server import ModelServer

    server = ModelServer(model_repo=model_repo, host=host, port=0, rest_api_port=None,
                         metrics_port=None, file_system_poll_wait_seconds=0,
                         batching_parameters_file=batching_file,
                         enable_batching=enable_batching)
    return server.start()


def _server_process(plan: dict[str, Any], conn: Any) -> None:
    """Child: start every server in `plan["servers"]`, send their ports, stop when told."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        _set_tf_threads(*plan["tf_threads"])
        if plan.get("serve_dir"):
            _use_serve_dir(plan["serve_dir"])
        ports, stops = {}, []
        for label, server in plan["servers"].items():
            if server["kind"] == "echo":
                port, stop = _start_echo(plan["host"])
            elif server["kind"] == "echo_aio":
                port, stop = _start_echo_aio(plan["host"])
            elif server["kind"] == ECHO_UVLOOP:
                port, stop = _start_echo_aio(plan["host"], uvloop=True)
            elif server["kind"] == "echo_aio+model":
                port, stop = _start_echo_aio(plan["host"], signature_call(
                    Path(server["version_dir"]), example_inputs(Path(server["version_dir"]))))
            else:
                model = start_model_server(server["model_repo"], plan["host"],
                                           server.get("batching_file"),
                                           server.get("enable_batching", False))
                port, stop = model.grpc_port, model.stop
            ports[label] = port
            stops.append(stop)
        conn.send(ports)
    except BaseException as exc:  # the parent must hear why, not hang
        conn.send({"error": f"{type(exc).__name__}: {exc}"})
        raise
    conn.recv()
    for stop in stops:
        stop()
    conn.send("stopped")


# -- load (a child process) -------------------------------------------------------------------

def _latencies(target: str, request: bytes, seconds: float, warmup_s: float) -> list[float]:
    """One client, one request at a time: every call's latency (seconds) after warmup."""
    import grpc
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    message = predict_pb2.PredictRequest.FromString(request)
    with grpc.insecure_channel(target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        end_warmup = time.perf_counter() + warmup_s
        while time.perf_counter() < end_warmup:
            stub.Predict(message, timeout=30)
        times = []
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            started = time.perf_counter()
            stub.Predict(message, timeout=30)
            times.append(time.perf_counter() - started)
    return times


def _throughput(targets: list[str], request: bytes, in_flight: int, seconds: float,
                warmup_s: float, slice_s: float) -> list[float]:
    """Each target's answers per second with `in_flight` requests always outstanding (grpc.aio
    client), measured in turns: every target gets a slice of `slice_s` in turn (in reverse every
    other turn) until each has had `seconds`. Targets measured a fraction of a second apart see
    the same machine, so its drift over seconds falls on all of them alike.

    Each slice counts the answers after its first `settle` (the pipeline filling up), so a
    short slice does not favour the target with the shorter round trip.
    """
    import grpc
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    message = predict_pb2.PredictRequest.FromString(request)
    settle = min(0.05, slice_s / 5)

    async def burst(stub: Any, duration: float) -> int:
        """Answers between `settle` and `duration` seconds from now."""
        answered = [0]
        now = time.perf_counter()
        count_from, stop_at = now + settle, now + duration

        async def worker() -> None:
            while time.perf_counter() < stop_at:
                await stub.Predict(message, timeout=60)
                if count_from <= time.perf_counter() <= stop_at:
                    answered[0] += 1

        await asyncio.gather(*(worker() for _ in range(in_flight)))
        return answered[0]

    async def run() -> list[float]:
        channels = [grpc.aio.insecure_channel(target) for target in targets]
        try:
            stubs = [prediction_service_pb2_grpc.PredictionServiceStub(c) for c in channels]
            for stub in stubs:
                await burst(stub, warmup_s)
            answered = [0] * len(stubs)
            turns = max(1, round(seconds / slice_s))
            for turn in range(turns):
                order = range(len(stubs)) if turn % 2 == 0 else reversed(range(len(stubs)))
                for index in order:
                    answered[index] += await burst(stubs[index], slice_s)
            return [n / (turns * (slice_s - settle)) for n in answered]
        finally:
            for channel in channels:
                await channel.close()

    return asyncio.run(run())


def _client_process(conn: Any) -> None:
    """Child: run each load command the parent sends; answer its result."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    while True:
        command = conn.recv()
        if command is None:
            return
        kind, args = command
        try:
            conn.send(_latencies(*args) if kind == "latency" else _throughput(*args))
        except Exception as exc:
            conn.send({"error": f"{type(exc).__name__}: {exc}"})


class Children:
    """The server and client processes of one benchmark run."""

    def __init__(self) -> None:
        self._context = multiprocessing.get_context("spawn")
        self._servers: list[tuple[Any, Any]] = []
        self._client: tuple[Any, Any] | None = None

    def start_servers(self, plans: list[dict[str, Any]]) -> dict[str, int]:
        """Start one process per plan (in parallel); their ports by target label."""
        pending = []
        for plan in plans:
            mine, theirs = self._context.Pipe()
            process = self._context.Process(target=_server_process, args=(plan, theirs),
                                            daemon=True)
            process.start()
            pending.append((process, mine))
        ports: dict[str, int] = {}
        for process, conn in pending:
            self._servers.append((process, conn))
            if not conn.poll(600):
                raise RuntimeError("a server process did not start within 600 s")
            answer = conn.recv()
            if "error" in answer:
                raise RuntimeError(f"a server process failed: {answer['error']}")
            ports.update(answer)
        return ports

    def load(self, kind: str, *args: Any) -> Any:
        if self._client is None:
            mine, theirs = self._context.Pipe()
            process = self._context.Process(target=_client_process, args=(theirs,), daemon=True)
            process.start()
            self._client = (process, mine)
        self._client[1].send((kind, args))
        answer = self._client[1].recv()
        if isinstance(answer, dict):
            raise RuntimeError(f"load {kind} failed: {answer['error']}")
        return answer

    def close(self) -> None:
        if self._client is not None:
            self._client[1].send(None)
            self._client[0].join(30)
        for process, conn in self._servers:
            try:
                conn.send("stop")
                conn.poll(60) and conn.recv()
            except (OSError, EOFError):
                pass
            process.join(30)
            if process.is_alive():
                process.terminate()


# -- the run ----------------------------------------------------------------------------------

def _batching_file(folder: str, name: str, max_batch_size: int, timeout_us: int,
                   threads: int) -> str:
    path = os.path.join(folder, f"{name}.batching.txt")
    with open(path, "w") as f:
        f.write(f"max_batch_size {{ value: {max_batch_size} }}\n"
                f"batch_timeout_micros {{ value: {timeout_us} }}\n"
                f"max_enqueued_batches {{ value: 1000 }}\n"
                f"num_batch_threads {{ value: {threads} }}\n")
    return path


def _single_model_repo(folder: str, version_dir: Path, name: str) -> str:
    """A repository holding just the model under test (a link, nothing copied)."""
    repo = os.path.join(folder, f"repo_{name}")
    os.makedirs(os.path.join(repo, name), exist_ok=True)
    os.symlink(version_dir.resolve(), os.path.join(repo, name, version_dir.name))
    return repo


_HEADLINE = ("overhead_ms", "throughput_fraction_of_echo", "batching_multiplier",
             "overhead_vs_echo_with_model_ms", "overhead_vs_uvloop_echo_ms",
             "overhead_vs_session_call_ms")


def _figures(row: dict[str, Any], build: str, tight_loop_ms: float) -> dict[str, float]:
    """One round's figures for `build`, each from measurements taken side by side
    (`tight_loop_ms`: the in-process call in a tight loop, measured once)."""
    p50, qps = row[f"{build} p50_ms"], row[f"{build}+batching qps@{IN_FLIGHT}"]
    return {
        # The floors: the grpc.aio echo and the in-process call, made at the pace the
        # server sees them; and against the tight-loop call, for comparison.
        "overhead_ms": p50 - row["echo_aio p50_ms"] - row["paced_in_process_p50_ms"],
        "overhead_vs_tight_loop_ms": p50 - row["echo_aio p50_ms"] - tight_loop_ms,
        "throughput_fraction_of_echo": qps / row[f"echo_aio qps@{IN_FLIGHT}"],
        "batching_multiplier": row[f"{build} slow+batching qps@{IN_FLIGHT}"]
        / row[f"{build} slow qps@{IN_FLIGHT}"],
        # Against the call the server itself makes (a session callable, cheaper than the
        # user's eager call): what the server's own code and gRPC's work add to its model.
        "overhead_vs_session_call_ms": p50 - row["echo_aio p50_ms"] - row["paced_session_p50_ms"],
        # What the server adds over the echo that makes the floor's call: its own code's cost.
        "overhead_vs_echo_with_model_ms": p50 - row[f"{ECHO_WITH_MODEL} p50_ms"],
        # Stricter: against the sync echo, where that one is the faster floor here, and against
        # the aio echo on uvloop, the event loop the server itself runs on.
        "overhead_vs_sync_echo_ms": p50 - row["echo p50_ms"] - row["paced_in_process_p50_ms"],
        "throughput_fraction_of_sync_echo": qps / row[f"echo qps@{IN_FLIGHT}"],
        "overhead_vs_uvloop_echo_ms": p50 - row[f"{ECHO_UVLOOP} p50_ms"]
        - row["paced_in_process_p50_ms"],
        "throughput_fraction_of_uvloop_echo": qps / row[f"{ECHO_UVLOOP} qps@{IN_FLIGHT}"],
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every measurement and the three figures, as the JSON written to `--out`."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    tf_threads = (args.tensorflow_intra_op_parallelism, args.tensorflow_inter_op_parallelism)
    _set_tf_threads(*tf_threads)  # the in-process floors run with the servers' thread pools
    work = tempfile.mkdtemp(prefix="serve_overhead_")
    version_dir = newest_version(args.model_repo, args.name)
    inputs = example_inputs(version_dir)
    request = predict_request_bytes(args.name, inputs)
    repo = _single_model_repo(work, version_dir, args.name)
    slow_dir = Path(build_slow_model(os.path.join(work, "slow", SLOW_MODEL, "1"),
                                     args.slow_width, args.slow_layers))
    slow_inputs = {"x": np.random.default_rng(0).normal(size=(1, args.slow_width))
                   .astype(np.float32)}
    slow_request = predict_request_bytes(SLOW_MODEL, slow_inputs)
    batching = _batching_file(work, "model", args.max_batch_size, args.batch_timeout_micros,
                              args.num_batch_threads)
    slow_batching = _batching_file(work, "slow", IN_FLIGHT, args.slow_batch_timeout_micros,
                                   args.num_batch_threads)

    def model_servers(prefix: str) -> dict[str, dict[str, Any]]:
        return {
            f"{prefix}": {"kind": "model", "model_repo": repo},
            f"{prefix}+batching": {"kind": "model", "model_repo": repo, "batching_file": batching},
            f"{prefix} slow": {"kind": "model", "model_repo": os.path.dirname(str(slow_dir.parent))},
            f"{prefix} slow+batching": {"kind": "model",
                                        "model_repo": os.path.dirname(str(slow_dir.parent)),
                                        "batching_file": slow_batching},
        }

    builds = {"server": None}
    if args.baseline_serve:
        builds["baseline"] = os.path.abspath(args.baseline_serve)
    # One process per server, as each would be deployed: no two servers share a GIL, an event
    # loop's process or TensorFlow's thread pools.
    plans = [{"host": "127.0.0.1", "tf_threads": tf_threads, "servers": {label: {"kind": label}}}
             for label in ("echo", "echo_aio", ECHO_UVLOOP)]
    plans.append({"host": "127.0.0.1", "tf_threads": tf_threads, "servers": {
        ECHO_WITH_MODEL: {"kind": ECHO_WITH_MODEL, "version_dir": str(version_dir)}}})
    for prefix, serve_dir in builds.items():
        # The slow model's servers, batching or not, leave intra-op threads to TensorFlow: one
        # thread suits a 0.2 ms model (idle pool threads spin), a 5 ms one wants every core.
        plans += [{"host": "127.0.0.1", "serve_dir": serve_dir, "servers": {label: server},
                   "tf_threads": (0, tf_threads[1]) if "slow" in label else tf_threads}
                  for label, server in model_servers(prefix).items()]

    model_call = signature_call(version_dir, inputs)
    server_call = session_call(version_dir, inputs)
    floors = {
        "in_process_p50_ms": in_process_p50_ms(model_call, args.in_process_calls),
        "slow_in_process_p50_ms": in_process_p50_ms(signature_call(slow_dir, slow_inputs),
                                                    max(20, args.in_process_calls // 50)),
    }
    children = Children()
    rounds: list[dict[str, Any]] = []

    def latency(target: str, label: str) -> dict[str, float]:
        times = children.load("latency", target, request, args.seconds, args.warmup_s)
        return {f"{label} p50_ms": float(np.percentile(times, 50) * 1e3),
                f"{label} p99_ms": float(np.percentile(times, 99) * 1e3)}

    def throughput(labels: list[str], reverse: bool) -> dict[str, float]:
        """Throughput of every target in `labels`, in interleaved slices (`_throughput`)."""
        slow = "slow" in labels[0]
        order = list(reversed(labels)) if reverse else labels
        rates = children.load("throughput", [f"127.0.0.1:{ports[label]}" for label in order],
                              slow_request if slow else request, IN_FLIGHT,
                              args.slow_seconds if slow else args.seconds, args.warmup_s,
                              args.slice_s)
        return {f"{label} qps@{IN_FLIGHT}": rate for label, rate in zip(order, rates)}

    def measure_latency(labels: list[str], reverse: bool) -> dict[str, float]:
        row = {}
        for label in reversed(labels) if reverse else labels:
            row.update(latency(f"127.0.0.1:{ports[label]}", label))
        return row

    try:
        ports = children.start_servers(plans)
        for number in range(args.repeats):
            # Every other round runs its targets in reverse, so no target always follows
            # another: drift and warm-up effects fall on each side alike.
            reverse = number % 2 == 1
            row: dict[str, Any] = measure_latency(["echo", "echo_aio", ECHO_UVLOOP, *builds,
                                                   ECHO_WITH_MODEL],
                                                  reverse)
            # (a)'s model floor, called at the pace one client sends: this round's echo round
            # trip apart.
            row["paced_in_process_p50_ms"] = in_process_p50_ms(
                model_call, args.paced_calls, row["echo_aio p50_ms"] / 1e3)
            row["paced_session_p50_ms"] = in_process_p50_ms(
                server_call, args.paced_calls, row["echo_aio p50_ms"] / 1e3)
            # (a) for the floors themselves: the echo that makes the floor's call, against the
            # echo and the call measured apart. Above 0.1 ms, (a)'s goal is out of reach here
            # for any server that runs the model after gRPC's work, whatever its own code costs.
            row["floors_together_overhead_ms"] = (row[f"{ECHO_WITH_MODEL} p50_ms"]
                                                  - row["echo_aio p50_ms"]
                                                  - row["paced_in_process_p50_ms"])
            row.update(throughput(["echo", "echo_aio", ECHO_UVLOOP,
                                   *[f"{b}+batching" for b in builds],
                                   *builds], reverse))
            row.update(throughput([f"{b} {kind}" for b in builds
                                   for kind in ("slow", "slow+batching")], reverse))
            row["figures"] = {build: _figures(row, build, floors["in_process_p50_ms"])
                              for build in builds}
            rounds.append(row)
    finally:
        children.close()

    medians = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]
               if key != "figures"}
    for key in ("paced_in_process_p50_ms", "paced_session_p50_ms", "floors_together_overhead_ms"):
        floors[key] = medians[key]
    floors["floors_together_overhead_ms_range"] = [
        min(r["floors_together_overhead_ms"] for r in rounds),
        max(r["floors_together_overhead_ms"] for r in rounds)]
    figures = {}
    for build in builds:
        # Each figure is the median of its per-round values: a ratio or difference taken
        # between measurements seconds apart, so the machine's drift between rounds cancels.
        per_round = [r["figures"][build] for r in rounds]
        figures[build] = {key: statistics.median(f[key] for f in per_round)
                          for key in per_round[0]}
        figures[build]["spread"] = {key: [min(f[key] for f in per_round),
                                          max(f[key] for f in per_round)]
                                    for key in _HEADLINE}
        figures[build]["goals_met"] = {
            "overhead_ms": figures[build]["overhead_ms"] <= GOAL_OVERHEAD_MS,
            "throughput_fraction_of_echo":
                figures[build]["throughput_fraction_of_echo"] >= GOAL_THROUGHPUT_FRACTION,
            "batching_multiplier": figures[build]["batching_multiplier"] >= GOAL_BATCHING_MULTIPLIER
            and floors["slow_in_process_p50_ms"] >= SLOW_MODEL_MIN_MS,
        }
    return {
        "model": args.name, "version": int(version_dir.name), "in_flight": IN_FLIGHT,
        "repeats": args.repeats, "seconds": args.seconds, "slice_s": args.slice_s,
        "cpus": os.cpu_count(),
        "batching": {"max_batch_size": args.max_batch_size,
                     "batch_timeout_micros": args.batch_timeout_micros,
                     "slow_max_batch_size": IN_FLIGHT,
                     "slow_batch_timeout_micros": args.slow_batch_timeout_micros,
                     "num_batch_threads": args.num_batch_threads},
        "tensorflow_threads": {"intra_op": tf_threads[0], "inter_op": tf_threads[1]},
        "slow_model": {"width": args.slow_width, "layers": args.slow_layers},
        "goals": {"overhead_ms": GOAL_OVERHEAD_MS,
                  "throughput_fraction_of_echo": GOAL_THROUGHPUT_FRACTION,
                  "batching_multiplier": GOAL_BATCHING_MULTIPLIER,
                  "slow_in_process_p50_ms": SLOW_MODEL_MIN_MS},
        "floors": floors, "medians": medians, "figures": figures, "rounds": rounds,
        "baseline_serve": builds.get("baseline"),
    }


def table(result: dict[str, Any]) -> str:
    """The figures and their floors, one line each, for the terminal."""
    m, f = result["medians"], result["floors"]
    lines = [f"serve overhead: {result['model']} v{result['version']}, figures: median of "
             f"{result['repeats']} per-round values [their range], {result['cpus']} CPUs, "
             f"batching: max_batch_size "
             f"{result['batching']['max_batch_size']}, batch_timeout_micros "
             f"{result['batching']['batch_timeout_micros']}, batch threads "
             f"{result['batching']['num_batch_threads']} (slow model: 32, "
             f"{result['batching']['slow_batch_timeout_micros']}), TF intra-op/inter-op threads "
             f"{result['tensorflow_threads']['intra_op'] or 'default'}/"
             f"{result['tensorflow_threads']['inter_op'] or 'none (caller thread)'} (slow model: "
             "TensorFlow's intra-op choice)",
             f"  floor  echo (sync grpc) p50        {m['echo p50_ms']:8.3f} ms",
             f"  floor  echo (grpc.aio) p50         {m['echo_aio p50_ms']:8.3f} ms",
             f"  floor  echo (grpc.aio, uvloop) p50 {m[f'{ECHO_UVLOOP} p50_ms']:8.3f} ms",
             f"  floor  echo (grpc.aio) + the in-process call p50 "
             f"{m[f'{ECHO_WITH_MODEL} p50_ms']:.3f} ms: (a) of the floors together "
             f"{f['floors_together_overhead_ms']:.3f} ms "
             f"[{f['floors_together_overhead_ms_range'][0]:.3f}, "
             f"{f['floors_together_overhead_ms_range'][1]:.3f}]",
             f"  floor  in-process signature p50    {f['paced_in_process_p50_ms']:8.3f} ms "
             f"(an echo round trip between calls; {f['in_process_p50_ms']:.3f} ms in a tight "
             "loop)",
             f"  floor  the server's session call p50 {f['paced_session_p50_ms']:6.3f} ms "
             "(paced likewise)",
             f"  floor  echo qps@{IN_FLIGHT}                {m[f'echo qps@{IN_FLIGHT}']:8.0f}",
             f"  floor  echo_aio qps@{IN_FLIGHT}            {m[f'echo_aio qps@{IN_FLIGHT}']:8.0f}",
             f"  floor  echo_aio uvloop qps@{IN_FLIGHT}     "
             f"{m[f'{ECHO_UVLOOP} qps@{IN_FLIGHT}']:8.0f}",
             f"  slow model in-process p50          {f['slow_in_process_p50_ms']:8.3f} ms"]
    for build, fig in result["figures"].items():
        ok = {k: "ok" if v else "MISSED" for k, v in fig["goals_met"].items()}
        low = {key: pair[0] for key, pair in fig["spread"].items()}
        high = {key: pair[1] for key, pair in fig["spread"].items()}
        lines += [
            f"  [{build}] p50 {m[f'{build} p50_ms']:.3f} ms, qps@{IN_FLIGHT} batching "
            f"{m[f'{build}+batching qps@{IN_FLIGHT}']:.0f} (off: {m[f'{build} qps@{IN_FLIGHT}']:.0f}),"
            f" slow qps {m[f'{build} slow+batching qps@{IN_FLIGHT}']:.1f} batching / "
            f"{m[f'{build} slow qps@{IN_FLIGHT}']:.1f} not",
            f"  [{build}] (a) overhead             {fig['overhead_ms']:8.3f} ms "
            f"[{low['overhead_ms']:.3f}, {high['overhead_ms']:.3f}] (goal <= {GOAL_OVERHEAD_MS}) "
            f"{ok['overhead_ms']}; over the sync echo "
            f"{fig['overhead_vs_sync_echo_ms']:.3f} ms, over the uvloop echo "
            f"{fig['overhead_vs_uvloop_echo_ms']:.3f} ms [{low['overhead_vs_uvloop_echo_ms']:.3f}, "
            f"{high['overhead_vs_uvloop_echo_ms']:.3f}]; over the tight-loop floor "
            f"{fig['overhead_vs_tight_loop_ms']:.3f} ms",
            f"  [{build}]     over the echo and the server's own session call "
            f"{fig['overhead_vs_session_call_ms']:.3f} ms "
            f"[{low['overhead_vs_session_call_ms']:.3f}, {high['overhead_vs_session_call_ms']:.3f}]",
            f"  [{build}]     over the echo that makes the in-process call "
            f"{fig['overhead_vs_echo_with_model_ms']:.3f} ms "
            f"[{low['overhead_vs_echo_with_model_ms']:.3f}, "
            f"{high['overhead_vs_echo_with_model_ms']:.3f}]",
            f"  [{build}] (b) qps / echo qps       {fig['throughput_fraction_of_echo']:8.2f}   "
            f"[{low['throughput_fraction_of_echo']:.2f}, {high['throughput_fraction_of_echo']:.2f}] "
            f"(goal >= {GOAL_THROUGHPUT_FRACTION}) {ok['throughput_fraction_of_echo']}; "
            f"of the sync echo's {fig['throughput_fraction_of_sync_echo']:.2f}, of the uvloop "
            f"echo's {fig['throughput_fraction_of_uvloop_echo']:.2f}",
            f"  [{build}] (c) batching multiplier  {fig['batching_multiplier']:8.2f}x  "
            f"[{low['batching_multiplier']:.2f}, {high['batching_multiplier']:.2f}] "
            f"(goal >= {GOAL_BATCHING_MULTIPLIER}) {ok['batching_multiplier']}",
        ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m liveri.benchmarks.serve_overhead",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_repo", required=True)
    parser.add_argument("--name", required=True, help="model folder in the repository")
    parser.add_argument("--out", required=True, help="folder for serve_overhead.json")
    parser.add_argument("--repeats", type=int, default=9,
                        help="rounds; each figure is the median of its per-round values")
    parser.add_argument("--seconds", type=float, default=2.0, help="per measurement")
    parser.add_argument("--slow_seconds", type=float, default=3.0)
    parser.add_argument("--slice_s", type=float, default=0.25,
                        help="throughput targets take turns of this long within a round")
    parser.add_argument("--warmup_s", type=float, default=0.5)
    parser.add_argument("--in_process_calls", type=int, default=3000,
                        help="calls for the tight-loop floor")
    parser.add_argument("--paced_calls", type=int, default=1000,
                        help="calls per round for (a)'s paced floor")
    parser.add_argument("--slow_width", type=int, default=2048)
    parser.add_argument("--slow_layers", type=int, default=8)
    parser.add_argument("--max_batch_size", type=int, default=32,
                        help="for (b): every request in flight")
    parser.add_argument("--batch_timeout_micros", type=int, default=10000,
                        help="for (b): long enough for a batch to gather every request in "
                        "flight, one model call per 32 (measured side by side: 0.5, 1, 2, 5, 10 "
                        "and 20 ms gave 0.50, 0.54, 0.59-0.62, 0.65-0.70, 0.71 and 0.73)")
    parser.add_argument("--slow_batch_timeout_micros", type=int, default=0,
                        help="for (c), whose batches are max_batch_size 32 (every request in "
                        "flight): a 5 ms call gathers the next batch by itself")
    parser.add_argument("--num_batch_threads", type=int, default=1,
                        help="batches run at a time (TF Serving's default is one per core; "
                        "one keeps batches full when TF's own threads already use every core)")
    parser.add_argument("--tensorflow_intra_op_parallelism", type=int, default=1,
                        help="TF intra-op threads in the servers and the in-process floors "
                        "(0: TensorFlow's choice). One: on a small machine TF's idle pool "
                        "threads spin for work, taking CPU the server and client need")
    parser.add_argument("--tensorflow_inter_op_parallelism", type=int, default=0,
                        help="TF inter-op threads (0: the server runs each call's ops in its "
                        "own thread; the in-process floor's eager call uses TensorFlow's pool)")
    parser.add_argument("--baseline_serve", help="also measure the serve/ code in this folder")
    parser.add_argument("--quick", action="store_true",
                        help="a tiny run that only checks the benchmark works")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.seconds, args.slow_seconds, args.warmup_s = 2, 0.3, 0.3, 0.1
        args.slice_s = 0.15
        args.in_process_calls, args.slow_width, args.slow_layers = 100, 256, 2
        args.paced_calls = 50
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result = run(args)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "serve_overhead.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=2)
    print(table(result))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
