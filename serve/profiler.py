"""TensorFlow's ProfilerService on the server's gRPC port, as TF Serving offers it.

`tf.profiler.experimental.client.trace("grpc://HOST:PORT", logdir, ms)` asks the port for
`tensorflow.ProfilerService/Profile`. TensorFlow ships the service only as its own gRPC server
(`tf.profiler.experimental.server.start(port)`) and no Python stubs for its protos, so the
model server starts that profiler server on a private local port, once per process, and relays
each ProfilerService call to it as raw bytes: the trace is TensorFlow's own, of this process.
TensorFlow's profiler server listens on every interface of that private port (it takes no host);
it is the same service TF Serving exposes on its public port.
"""

from __future__ import annotations

import socket
import threading
from typing import Any

import grpc

SERVICE = "tensorflow.ProfilerService"
METHODS = ("Profile", "Terminate", "Monitor")

_lock = threading.Lock()
_address: str | None = None


def _profiler_address() -> str:
    """The in-process profiler server's address, started on first use."""
    global _address
    with _lock:
        if _address is None:
            from liveri.lazy import tf

            with socket.socket() as probe:  # a free port, released for the profiler to take
                probe.bind(("127.0.0.1", 0))
                port = probe.getsockname()[1]
            tf.profiler.experimental.server.start(port)
            _address = f"127.0.0.1:{port}"
        return _address


def _relay(method: str) -> Any:
    async def call(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        timeout = context.time_remaining()
        async with grpc.aio.insecure_channel(_profiler_address()) as channel:
            try:
                return await channel.unary_unary(f"/{SERVICE}/{method}")(
                    request, timeout=None if timeout is None or timeout > 1e8 else timeout)
            except grpc.aio.AioRpcError as error:
                await context.abort(error.code(), error.details() or "")
    return call


def add_profiler_service(server: grpc.aio.Server) -> None:
    """Answer ProfilerService on `server`'s ports (bytes in, bytes out: no stubs needed)."""
    handlers = {method: grpc.unary_unary_rpc_method_handler(_relay(method))
                for method in METHODS}
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
