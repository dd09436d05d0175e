"""gRPC front end: TF Serving's PredictionService and ModelService over the manager.

Handlers run on the gRPC server's thread pool and call the model directly in that thread, so a
request costs one proto decode, one signature call and one proto encode. Every failure becomes a
status; nothing a client sends can raise out of a handler.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf import message_factory
from liveri.serve import inference
from liveri.serve.errors import ServingError, from_exception, invalid
from liveri.serve.loader import DEFAULT_SIGNATURE
from liveri.serve.manager import ServableManager
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


def _deadline(context: grpc.ServicerContext) -> float | None:
    remaining = context.time_remaining()
    if remaining is None or remaining > 1e8:
        return None
    return time.monotonic() + remaining


class Dispatcher:
    """Resolves a request's model spec to a pinned servable, runs it, records the outcome."""

    def __init__(self, manager: ServableManager, metrics: ServingMetrics) -> None:
        self.manager = manager
        self.metrics = metrics

    def call(self, method: str, request: Any, fn: Callable[..., Any], spec: Any,
             deadline: float | None) -> Any:
        """Run `fn(servable, request, deadline)`; raises ServingError on any failure."""
        started = time.perf_counter()
        name = spec.name
        version_label = signature_label = ""
        status = "OK"
        try:
            if not name:
                raise invalid("Missing ModelSpec: the request must name a model (model_spec.name)")
            version, label = _version_request(spec)
            with self.manager.handle(name, version, label) as servable:
                version_label = str(servable.version)
                key = spec.signature_name or DEFAULT_SIGNATURE
                # Only label with names the model has: clients must not grow the metric series.
                signature_label = key if key in servable.signatures else ""
                return fn(servable, request, deadline)
        except Exception as exc:
            error = from_exception(exc)
            status = error.code.name
            if error.code == grpc.StatusCode.INTERNAL:
                log.exception("Internal error serving %s", name)
            raise error from None
        finally:
            model_label = name if version_label or self.manager.is_available(name) else ""
            self.metrics.observe_request(model_label, version_label, signature_label, method,
                                         status, time.perf_counter() - started)


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    """tensorflow.serving.PredictionService."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self._dispatcher = dispatcher

    def _run(self, method: str, request: Any, context: grpc.ServicerContext,
             fn: Callable[..., Any], spec: Any) -> Any:
        try:
            return self._dispatcher.call(method, request, fn, spec, _deadline(context))
        except ServingError as error:
            context.abort(error.code, error.message)

    def Predict(self, request, context):  # noqa: N802 (gRPC's method names)
        return self._run("predict", request, context, inference.predict, request.model_spec)

    def Classify(self, request, context):  # noqa: N802
        return self._run("classify", request, context, inference.classify, request.model_spec)

    def Regress(self, request, context):  # noqa: N802
        return self._run("regress", request, context, inference.regress, request.model_spec)

    def MultiInference(self, request, context):  # noqa: N802
        if not request.tasks:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          "MultiInferenceRequest must have at least one task")
        return self._run("multi_inference", request, context, inference.multi_inference,
                         request.tasks[0].model_spec)

    def GetModelMetadata(self, request, context):  # noqa: N802
        return self._run("get_model_metadata", request, context,
                         lambda servable, req, _deadline: inference.model_metadata(servable, req),
                         request.model_spec)


def model_status_response(manager: ServableManager, name: str, version: int | None
                          ) -> get_model_status_pb2.GetModelStatusResponse:
    """Each version's state and last error, newest first, as GetModelStatus reports them."""
    if not name:
        raise invalid("Missing ModelSpec: the request must name a model (model_spec.name)")
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
                 reload_config: Callable[[model_server_config_pb2.ModelServerConfig], None]) -> None:
        self._manager = manager
        self._reload_config = reload_config

    def GetModelStatus(self, request, context):  # noqa: N802
        try:
            version = request.model_spec.version.value if request.model_spec.HasField(
                "version") else None
            return model_status_response(self._manager, request.model_spec.name, version)
        except ServingError as error:
            context.abort(error.code, error.message)

    def HandleReloadConfigRequest(self, request, context):  # noqa: N802
        # As TF Serving: a failed reload is both the RPC's status and the response's.
        try:
            self._reload_config(request.config)
        except Exception as exc:
            error = from_exception(exc)
            context.abort(error.code, error.message)
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


def _guarded(method: Callable[[Any, grpc.ServicerContext], Any]) -> Callable[..., Any]:
    def handle(request: Any, context: grpc.ServicerContext) -> Any:
        if isinstance(request, _Unparsable):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.message)
        return method(request, context)

    return handle


def add_servicer(server: grpc.Server, servicer: Any, service: Any) -> None:
    """Register `servicer` for `service` (a ServiceDescriptor) with bytes that fail to parse
    answered INVALID_ARGUMENT, where the generated registration would answer INTERNAL."""
    handlers = {}
    for method in service.methods:
        handlers[method.name] = grpc.unary_unary_rpc_method_handler(
            _guarded(getattr(servicer, method.name)),
            request_deserializer=_safe_parser(message_factory.GetMessageClass(method.input_type)),
            response_serializer=lambda response: response.SerializeToString(),
        )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(service.full_name, handlers),))
