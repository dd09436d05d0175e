"""gRPC front end: TF Serving's PredictionService and ModelService over the manager, on grpc.aio.

Handlers are coroutines on the server's event loop, as in a bare grpc.aio server. Predict
decodes, checks and answers on the loop; its model call runs on the thread pool, or with
batching on a batch thread, so the loop keeps reading requests while the model runs, and a
batch's requests are answered with one wake-up of the loop. A cheap unbatched call whose request
came alone runs on the loop itself (see `Signature.run_async`). Predict's answer is written as
bytes straight from the outputs (`wire`); the other methods answer messages. Classify, Regress,
MultiInference and config reloads run on threads. Every failure becomes a status; nothing a
client sends can raise out of a handler.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent import futures
from typing import Any

import grpc
import numpy as np
from google.protobuf import message_factory
from liveri.serve import inference
from liveri.serve.errors import ServingError, from_exception, invalid
from liveri.serve.loader import DEFAULT_SIGNATURE, RunFn
from liveri.serve.manager import Handle, ServableManager
from liveri.serve.metrics import ServingMetrics
from tensorflow_serving.apis import (
    get_model_status_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    prediction_service_pb2_grpc,
)
from tensorflow_serving.config import model_server_config_pb2

log = logging.getLogger("liveri.serve")

# tensorflow.error.Code numbers equal gRPC's canonical code numbers.
_CODE_NUMBER = {code: code.value[0] for code in grpc.StatusCode}


def _version_request(spec: Any) -> tuple[int | None, str | None]:
    if spec.HasField("version"):
        return spec.version.value, None
    if spec.version_label:
        return None, spec.version_label
    return None, None


def _deadline(context: Any) -> float | None:
    remaining = context.time_remaining()
    if remaining is None or remaining > 1e8:
        return None
    return time.monotonic() + remaining


class _Record:
    """One request's metric labels and outcome, filled in as the request is resolved."""

    __slots__ = ("started", "method", "name", "version", "signature", "status")

    def __init__(self, method: str, name: str) -> None:
        self.started = time.perf_counter()
        self.method = method
        self.name = name
        self.version = self.signature = ""
        self.status = "OK"


class Dispatcher:
    """Resolves a request's model spec to a pinned servable, runs it, records the outcome."""

    def __init__(self, manager: ServableManager, metrics: ServingMetrics) -> None:
        self.manager = manager
        self.metrics = metrics

    def call(self, method: str, request: Any, fn: Callable[..., Any], spec: Any,
             deadline: float | None) -> Any:
        """Run `fn(servable, request, deadline)`; raises ServingError on any failure."""
        record = _Record(method, spec.name)
        try:
            with self._pin(spec, record) as servable:
                return fn(servable, request, deadline)
        except Exception as exc:
            raise self._failed(record, exc) from None
        finally:
            self._observe(record)

    async def call_async(self, method: str, request: Any,
                         fn: Callable[..., Awaitable[Any]], spec: Any,
                         deadline: float | None) -> Any:
        """`call` for a coroutine `fn`, awaited while the servable stays pinned."""
        record = _Record(method, spec.name)
        try:
            with self._pin(spec, record) as servable:
                return await fn(servable, request, deadline)
        except asyncio.CancelledError:
            record.status = "CANCELLED"  # the client left or its deadline passed
            raise
        except Exception as exc:
            raise self._failed(record, exc) from None
        finally:
            self._observe(record)

    def _pin(self, spec: Any, record: _Record) -> Handle:
        if not spec.name:
            raise invalid("Missing ModelSpec: the request must name a model (model_spec.name)")
        version, label = _version_request(spec)
        handle = self.manager.handle(spec.name, version, label)
        servable = handle.servable
        record.version = str(servable.version)
        key = spec.signature_name or DEFAULT_SIGNATURE
        # Only label with names the model has: clients must not grow the metric series.
        record.signature = key if key in servable.signatures else ""
        return handle

    @staticmethod
    def _failed(record: _Record, exc: Exception) -> ServingError:
        error = from_exception(exc)
        record.status = error.code.name
        if error.code == grpc.StatusCode.INTERNAL:
            log.error("Internal error serving %s", record.name, exc_info=exc)
        return error

    def _observe(self, record: _Record) -> None:
        name = record.name
        model_label = name if record.version or self.manager.is_available(name) else ""
        self.metrics.observe_request(model_label, record.version, record.signature,
                                     record.method, record.status,
                                     time.perf_counter() - record.started)


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    """tensorflow.serving.PredictionService."""

    def __init__(self, dispatcher: Dispatcher, executor: futures.Executor) -> None:
        self._dispatcher = dispatcher
        self._executor = executor

        def offload(fn: RunFn, inputs: dict[str, np.ndarray]
                    ) -> Awaitable[dict[str, np.ndarray]]:
            return asyncio.get_running_loop().run_in_executor(executor, fn, inputs)

        def predict(servable: Any, request: Any, deadline: float | None) -> Awaitable[Any]:
            return inference.predict_async(servable, request, deadline, offload)

        self._predict = predict

    async def _in_thread(self, method: str, request: Any, context: Any,
                         fn: Callable[..., Any], spec: Any) -> Any:
        deadline = _deadline(context)
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self._executor, self._dispatcher.call, method, request, fn, spec, deadline)
        except ServingError as error:
            await context.abort(error.code, error.message)

    async def Predict(self, request, context):  # noqa: N802 (gRPC's method names)
        try:
            return await self._dispatcher.call_async("predict", request, self._predict,
                                                     request.model_spec, _deadline(context))
        except ServingError as error:
            await context.abort(error.code, error.message)

    async def Classify(self, request, context):  # noqa: N802
        return await self._in_thread("classify", request, context, inference.classify,
                                     request.model_spec)

    async def Regress(self, request, context):  # noqa: N802
        return await self._in_thread("regress", request, context, inference.regress,
                                     request.model_spec)

    async def MultiInference(self, request, context):  # noqa: N802
        if not request.tasks:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                "MultiInferenceRequest must have at least one task")
        return await self._in_thread("multi_inference", request, context,
                                     inference.multi_inference, request.tasks[0].model_spec)

    async def GetModelMetadata(self, request, context):  # noqa: N802
        try:
            return self._dispatcher.call(
                "get_model_metadata", request,
                lambda servable, req, _deadline: inference.model_metadata(servable, req),
                request.model_spec, None)
        except ServingError as error:
            await context.abort(error.code, error.message)


def model_status_response(manager: ServableManager, name: str, version: int | None,
                          label: str | None = None
                          ) -> get_model_status_pb2.GetModelStatusResponse:
    """Each version's state and last error, newest first, as GetModelStatus reports them; a
    `label` asks for the version it names."""
    if not name:
        raise invalid("Missing ModelSpec: the request must name a model (model_spec.name)")
    if label:
        version = manager.label_version(name, label)
    response = get_model_status_pb2.GetModelStatusResponse()
    for state in manager.version_states(name, version):
        entry = response.model_version_status.add()
        entry.version = state.version
        entry.state = state.state
        entry.status.SetInParent()  # TF Serving always reports a status, OK included
        if state.error is not None:
            entry.status.error_code = _CODE_NUMBER[state.error.code]
            entry.status.error_message = state.error.message
    return response


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):
    """tensorflow.serving.ModelService: version states and config reloads."""

    def __init__(self, manager: ServableManager,
                 reload_config: Callable[[model_server_config_pb2.ModelServerConfig], None],
                 executor: futures.Executor) -> None:
        self._manager = manager
        self._reload_config = reload_config
        self._executor = executor

    async def GetModelStatus(self, request, context):  # noqa: N802
        try:
            return model_status_response(self._manager, request.model_spec.name,
                                         *_version_request(request.model_spec))
        except ServingError as error:
            await context.abort(error.code, error.message)

    async def HandleReloadConfigRequest(self, request, context):  # noqa: N802
        # As TF Serving: a failed reload is both the RPC's status and the response's.
        try:
            await asyncio.get_running_loop().run_in_executor(
                self._executor, self._reload_config, request.config)
        except Exception as exc:
            error = from_exception(exc)
            await context.abort(error.code, error.message)
        return model_management_pb2.ReloadConfigResponse()


class _Unparsable:
    """Stands in for a request whose bytes are not the expected proto."""

    def __init__(self, type_name: str, error: Exception) -> None:
        self.message = (f"Could not parse the request as {type_name}: {error}; "
                        "send a serialized protocol buffer of that type")


def _safe_parser(message_class: Any) -> Callable[[bytes], Any]:
    type_name = message_class.DESCRIPTOR.full_name

    def parse(data: bytes) -> Any:
        try:
            return message_class.FromString(data)
        except Exception as exc:  # DecodeError and friends: the client's fault, not ours
            return _Unparsable(type_name, exc)

    return parse


def _guarded(method: Callable[[Any, Any], Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def handle(request: Any, context: Any) -> Any:
        if isinstance(request, _Unparsable):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.message)
        return await method(request, context)

    return handle


def _serialize(response: Any) -> bytes:
    """A response message's bytes; a response already serialized (Predict's) as it is."""
    return response if type(response) is bytes else response.SerializeToString()


def add_servicer(server: grpc.aio.Server, servicer: Any, service: Any) -> None:
    """Register `servicer`'s coroutines for `service` (a ServiceDescriptor) with bytes that fail
    to parse answered INVALID_ARGUMENT, where the generated registration would answer INTERNAL."""
    handlers = {}
    for method in service.methods:
        handlers[method.name] = grpc.unary_unary_rpc_method_handler(
            _guarded(getattr(servicer, method.name)),
            request_deserializer=_safe_parser(message_factory.GetMessageClass(method.input_type)),
            response_serializer=_serialize,
        )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(service.full_name, handlers),))
