"""One error type for every refusal, carrying the gRPC status code both front ends report."""

from __future__ import annotations

import grpc

# TF Serving's mapping of canonical codes to HTTP statuses (net_http's ToHTTPStatusCode).
_HTTP_STATUS = {
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNAUTHENTICATED: 401,
}


_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}


class ServingError(Exception):
    """A request the server refuses; `code` is what gRPC clients see, `http_status` REST clients."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        return _HTTP_STATUS.get(self.code, 500)


def unmet(message: str) -> ServingError:
    """FAILED_PRECONDITION: what the server holds cannot do what is asked (say, an artifact
    whose parity is too low to serve)."""
    return ServingError(grpc.StatusCode.FAILED_PRECONDITION, message)


def invalid(message: str) -> ServingError:
    """Shorthand for the most common refusal: the request does not fit the signature."""
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


def from_exception(exc: BaseException) -> ServingError:
    """Map whatever a model call raised onto a status, so no exception escapes to the transport."""
    if isinstance(exc, ServingError):
        return exc
    import tensorflow as tf

    if isinstance(exc, tf.errors.OpError):
        return ServingError(_BY_NUMBER.get(exc.error_code, grpc.StatusCode.INTERNAL), exc.message)
    if isinstance(exc, (ValueError, TypeError)):
        return invalid(str(exc))
    if isinstance(exc, MemoryError):
        return ServingError(grpc.StatusCode.RESOURCE_EXHAUSTED, "out of memory serving the request")
    return ServingError(grpc.StatusCode.INTERNAL, f"{type(exc).__name__}: {exc}")

