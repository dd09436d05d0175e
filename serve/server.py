"""ModelServer: wires TF Serving's pieces into one server, as TF Serving's ServerCore does.

The model source (`config.ModelSource`) says which models and version folders to serve; the
manager (`manager.py`) holds the version policy and loads, swaps and unloads versions through the
loader the backend needs (`loaders.py`: SavedModel session, TFLite, ONNX Runtime / a Liveri
artifact); this module adds batching and warmup to each loaded version and runs the gRPC, REST
and metrics front ends and the pollers. Its knobs are `options.ServerOptions`.

Use it in-process for tests, benchmarks and `liveri run`:

    from liveri.serve.server import ModelServer

    with ModelServer(model_repo="REPO", port=0, rest_api_port=0, metrics_port=0,
                     enable_batching=True) as server:     # start(): models loaded and warmed
        channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")
        ...                                               # server.rest_port, server.metrics_port

Port 0 picks a free port (read the real one back from the attribute); `rest_api_port=0` and
`metrics_port=0` mean "pick a free port" here too, while the CLI treats 0 as "disabled" (pass
None to disable from Python). Models come from one of: `model_repo` (every model folder),
`model_config_file` or `model_config` (TF Serving's ModelServerConfig), or `model_name` with
`model_base_path`. `stop()` stops accepting, finishes in-flight requests and unloads models.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent import futures
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from liveri.serve import tf_threads
from liveri.serve.batching import (
    BatchingConfig,
    BatchScheduler,
    parse_batching_parameters,
    read_batching_parameters_text,
)
from liveri.serve.errors import ServingError
from liveri.serve.event_loop import EventLoopThread
from liveri.serve.grpc_service import (
    Dispatcher,
    ModelServicer,
    PredictionServicer,
    add_servicer,
)
from liveri.serve.httpd import HttpServer
from liveri.serve.loader import Servable
from liveri.serve.loaders import loader_for
from liveri.serve.manager import ServableManager
from liveri.serve.metrics import ServingMetrics
from liveri.serve.options import ServerOptions
from liveri.serve.profiler import add_profiler_service
from liveri.serve.request_log import RequestLogs
from liveri.serve.rest import RestApi
from liveri.serve.source import ModelSpec
from liveri.serve.warmup import run_warmup
from tensorflow_serving.apis import (
    model_service_pb2,
    prediction_service_pb2,
)
from tensorflow_serving.config import model_server_config_pb2

from liveri.errors import UsageError

log = logging.getLogger("liveri.serve")

SERVICE_NAMES = (
    prediction_service_pb2.DESCRIPTOR.services_by_name["PredictionService"].full_name,
    model_service_pb2.DESCRIPTOR.services_by_name["ModelService"].full_name,
    health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
    reflection.SERVICE_NAME,
)
MAX_MESSAGE_BYTES = 1 << 30
# Beyond this many RPCs in the server, new ones get RESOURCE_EXHAUSTED: memory stays bounded.
MAX_CONCURRENT_RPCS = 2048


class ModelServer:
    """A TF Serving compatible model server; see the module docstring for usage."""

    def __init__(self, model_repo: str | None = None, **options: Any) -> None:
        """`options`: the fields of `ServerOptions` (TF Serving's flags)."""
        self.options = ServerOptions(model_repo=model_repo, **options)
        self.source = self.options.source()
        self.metrics = ServingMetrics()
        batching_file = self.options.batching_parameters_file
        self._batching_text = (read_batching_parameters_text(batching_file)
                               if batching_file else None)
        self._batching = BatchingConfig(
            parse_batching_parameters(self._batching_text, batching_file)
            if self._batching_text is not None else None)
        self._health = health.aio.HealthServicer()
        self.manager = ServableManager(self._load, self._on_availability)
        self._dispatcher = Dispatcher(self.manager, self.metrics)
        self._request_logs = RequestLogs(
            self.options.request_log_max_file_bytes, self.options.request_log_max_total_bytes,
            lambda model, status: self.metrics.logged.labels(model, status).inc())
        self._loop: EventLoopThread | None = None  # gRPC's, REST's and metrics'
        self._grpc: grpc.aio.Server | None = None
        self._executor: futures.ThreadPoolExecutor | None = None
        self._rest: HttpServer | None = None
        self._metrics_http: HttpServer | None = None
        self._stop = threading.Event()
        self._pollers: list[threading.Thread] = []
        self.grpc_port: int | None = None
        self.rest_port: int | None = None
        self.metrics_port: int | None = None

    # -- models ---------------------------------------------------------------------------------

    def _load(self, spec: ModelSpec, version: int, path: str) -> Servable:
        """Load, attach batching, warm up: a version is only served once all three succeed."""
        started = time.perf_counter()
        try:
            load = loader_for(spec, path, self.options.prefer_tflite_model,
                              self.options.liveri_backend)
            servable = load(spec.name, version, path)
            servable.check_method_names = self.options.enable_signature_method_name_check
            if self.options.enable_batching:
                for signature in servable.signatures.values():
                    scheduler = BatchScheduler(
                        signature.run_direct, self._batching,
                        on_batch=self.metrics.batch_size.labels(spec.name, signature.key).observe)
                    signature.batcher = scheduler
                    servable.on_unload += (scheduler.stop, self.metrics.watch_queue(
                        spec.name, signature.key, lambda s=scheduler: s.queued))
            try:
                count = run_warmup(servable)
            except Exception:
                servable.unload()
                raise
            servable.request_logs = self._request_logs  # warmup's replays are not logged
        except Exception:
            self.metrics.loads.labels(spec.name, "error").inc()
            raise
        servable.load_seconds = time.perf_counter() - started
        self.metrics.loads.labels(spec.name, "ok").inc()
        self.metrics.load_seconds.labels(spec.name, str(version)).set(servable.load_seconds)
        if count:
            log.info("Warmed up %s version %d with %d requests", spec.name, version, count)
        if servable.backend_choice is not None:
            log.info("%s version %d: %s", spec.name, version, servable.backend_choice.describe())
            self.metrics.observe_backend(spec.name, version, servable.backend_choice)
        return servable

    def _on_availability(self, name: str, available: bool) -> None:
        status = (health_pb2.HealthCheckResponse.SERVING if available
                  else health_pb2.HealthCheckResponse.NOT_SERVING)
        self._on_loop(self._health.set(name, status))

    def reload_config(self, proto: model_server_config_pb2.ModelServerConfig) -> None:
        """Apply a new ModelServerConfig now (HandleReloadConfigRequest): load, swap, unload."""
        specs = self.source.replace(proto)
        self._set_specs(specs)
        self.manager.reconcile()
        self._sync_health(specs)
        self._apply_labels()

    def _set_specs(self, specs: list[ModelSpec]) -> None:
        """The models to serve, their request logs first: a log that cannot be opened refuses
        the specs before the manager takes them."""
        self._request_logs.sync({spec.name: spec.logging for spec in specs})
        self.manager.set_specs(specs)

    def _apply_labels(self) -> None:
        self.manager.apply_labels(self.options.allow_version_labels_for_unavailable_models)

    def _sync_health(self, specs: list[ModelSpec]) -> None:
        for spec in specs:
            self._on_availability(spec.name, self.manager.is_available(spec.name))

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> ModelServer:
        """Load and warm every model, then open the ports. UsageError when nothing can be served."""
        o = self.options
        specs = self.source.specs()
        if not specs:
            raise UsageError(f"no models found in {o.model_repo or o.model_config_file}: "
                             "expected REPO/MODEL/VERSION/saved_model.pb with VERSION all digits")
        tf_threads.set_parallelism(o.tensorflow_intra_op_parallelism,
                                   o.tensorflow_inter_op_parallelism)
        self._set_specs(specs)
        self._start_loop()
        self.manager.reconcile()
        failed = [s.name for s in specs if not self.manager.is_available(s.name)]
        if len(failed) == len(specs):
            details = []
            for name in failed:
                try:
                    details += [f"{name} version {v.version}: {v.error.message}"
                                for v in self.manager.version_states(name) if v.error]
                except Exception:
                    details.append(f"{name}: no version folder with a saved_model.pb")
            self.manager.unload_all()
            self._stop_loop()
            raise UsageError("no model could be loaded: " + "; ".join(details))
        try:
            self._apply_labels()
        except ServingError as error:
            self.manager.unload_all()
            self._stop_loop()
            raise UsageError(error.message) from None
        self._sync_health(specs)
        try:
            self._start_grpc()
            if o.rest_api_port is not None:
                routes = {}
                if o.monitoring.prometheus_enabled:
                    routes[o.monitoring.prometheus_path] = self._metrics_response
                api = RestApi(self._dispatcher, o.rest_timeout, routes)
                self._rest = HttpServer(self._loop, o.host, o.rest_api_port, api.handle, "REST",
                                        workers=o.rest_workers, queue_timeout=o.rest_timeout)
                self.rest_port = self._rest.port
            if o.metrics_port is not None:
                self._metrics_http = HttpServer(self._loop, o.host, o.metrics_port,
                                                self._metrics_route, "metrics")
                self.metrics_port = self._metrics_http.port
        except Exception:
            self.stop()
            raise
        self._on_loop(self._health.set("", health_pb2.HealthCheckResponse.SERVING))
        self._start_pollers()
        log.info("Serving %s: gRPC on %s:%s%s%s", ", ".join(self.manager.model_names()),
                 o.host, self.grpc_port,
                 f", REST on port {self.rest_port}" if self.rest_port else "",
                 f", metrics on port {self.metrics_port}" if self.metrics_port else "")
        return self

    def _start_loop(self) -> None:
        self._loop = EventLoopThread("liveri-serve")

    def _on_loop(self, coroutine: Any) -> Any:
        """Run `coroutine` on the server's event loop and wait for its result (any thread)."""
        if self._loop is None:  # stopped: nothing left to tell
            coroutine.close()
            return None
        return self._loop.run(coroutine)

    def _stop_loop(self) -> None:
        if self._loop is not None:
            self._loop.stop()
            self._loop = None

    def _start_grpc(self) -> None:
        self._executor = futures.ThreadPoolExecutor(self.options.grpc_workers,
                                                    thread_name_prefix="liveri-grpc")
        self._grpc = self._on_loop(self._open_grpc(self._executor))

    async def _open_grpc(self, executor: futures.ThreadPoolExecutor) -> grpc.aio.Server:
        # The user's --grpc_channel_arguments replace these defaults (gRPC keeps the first of
        # two values for one key, so appending them would not).
        options = dict([("grpc.so_reuseport", 0),
                        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES)])
        options.update(self.options.channel_args)
        server = grpc.aio.server(executor, options=list(options.items()),
                                 maximum_concurrent_rpcs=MAX_CONCURRENT_RPCS)
        add_servicer(server, PredictionServicer(self._dispatcher, executor),
                     prediction_service_pb2.DESCRIPTOR.services_by_name["PredictionService"])
        add_servicer(server, ModelServicer(self.manager, self.reload_config, executor),
                     model_service_pb2.DESCRIPTOR.services_by_name["ModelService"])
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        add_profiler_service(server)
        reflection.enable_server_reflection(SERVICE_NAMES, server)
        o = self.options
        host = f"[{o.host}]" if ":" in o.host else o.host
        if o.port is not None:
            self.grpc_port = self._bind(server, f"{host}:{o.port}")
        if o.grpc_socket_path:
            self._bind(server, f"unix:{o.grpc_socket_path}")
        await server.start()
        return server

    def _bind(self, server: grpc.aio.Server, address: str) -> int:
        """Listen on `address`, with TLS when --ssl_config_file gave credentials."""
        credentials = self.options.ssl_credentials
        try:
            port = (server.add_secure_port(address, credentials) if credentials
                    else server.add_insecure_port(address))
        except RuntimeError:
            port = 0
        if port == 0 and not address.startswith("unix:"):
            raise UsageError(f"cannot listen for gRPC on {address}: address in use or invalid")
        return port

    def _metrics_response(self) -> tuple[int, bytes, str]:
        return 200, self.metrics.text(), "text/plain; version=0.0.4; charset=utf-8"

    def _metrics_route(self, method: str, path: str, body: bytes, arrived: float
                       ) -> tuple[int, bytes, str]:
        if method == "GET" and path.split("?", 1)[0] in ("/metrics", "/"):
            return self._metrics_response()
        return 404, b"not found: use /metrics\n", "text/plain"

    # -- polling --------------------------------------------------------------------------------

    def _start_pollers(self) -> None:
        fs_poll = self.options.file_system_poll_wait_seconds
        config_poll = self.options.model_config_file_poll_wait_seconds
        if fs_poll and fs_poll > 0:
            self._pollers.append(self._every(fs_poll, self._poll_files, "fs-poll"))
        if self.options.model_config_file and config_poll and config_poll > 0:
            self._pollers.append(self._every(config_poll, self._poll_config, "config-poll"))

    def _every(self, seconds: float, fn: Any, name: str) -> threading.Thread:
        def loop() -> None:
            while not self._stop.wait(seconds):
                try:
                    fn()
                except Exception as exc:  # a bad file on disk must not stop polling
                    log.error("%s: %s", name, exc)

        thread = threading.Thread(target=loop, name=f"liveri-{name}", daemon=True)
        thread.start()
        return thread

    def _poll_files(self) -> None:
        """New versions (and, for a repository, new model folders) and a changed batching file."""
        if self.source.rescans_repo:
            self._set_specs(self.source.specs())
        self.manager.reconcile()
        self._sync_health([ModelSpec(n, "") for n in self.manager.model_names()])
        self._poll_batching_file()

    def _poll_batching_file(self) -> None:
        # By content, not mtime: a rewrite read half-done is read again, whole, at the next poll
        # (it may keep the mtime of the half-done read).
        batching_file = self.options.batching_parameters_file
        if not batching_file:
            return
        try:
            text = read_batching_parameters_text(batching_file)
        except UsageError:
            return  # gone or unreadable for now: the options in force stay
        if text == self._batching_text:
            return
        self._batching.options = parse_batching_parameters(text, batching_file)
        self._batching_text = text  # only once it parsed: a bad file is retried at each poll
        log.info("Batching parameters reloaded from %s", batching_file)

    def _poll_config(self) -> None:
        specs = self.source.changed_config()
        if specs is None:
            return
        self._set_specs(specs)
        self.manager.reconcile()
        self._sync_health(specs)
        try:
            self._apply_labels()
        except ServingError as error:
            log.error("Model config %s: %s", self.options.model_config_file, error.message)

    def stop(self, grace: float = 10.0) -> None:
        """Stop accepting, let in-flight requests finish (up to `grace` seconds), unload models."""
        self._stop.set()
        ends = time.monotonic() + grace
        self._on_loop(self._health.enter_graceful_shutdown())
        if self._rest is not None:  # REST and gRPC stop accepting together, then both drain
            self._rest.stop_accepting()
        if self._grpc is not None:
            self._on_loop(self._grpc.stop(grace))
            self._grpc = None
        if self._rest is not None and not self._rest.drain(max(1.0, ends - time.monotonic())):
            log.warning("REST requests still running after the %.0f s grace; stopping anyway",
                        grace)
        if self._rest is not None:
            self._rest.close()
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None
        if self._metrics_http is not None:
            self._metrics_http.stop(grace=1.0)
        self._rest = self._metrics_http = None
        for thread in self._pollers:
            thread.join(timeout=5)
        self._pollers = []
        self.manager.unload_all()
        self._request_logs.close()
        self._stop_loop()

    def wait(self) -> None:
        """Block until `stop()` is called from another thread (or a signal handler)."""
        self._stop.wait()

    def __enter__(self) -> ModelServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
