"""The HTTP server of the REST API and the metrics endpoint: aiohttp, on the server's event loop.

Why aiohttp rather than a thread per connection: an open connection costs aiohttp a protocol
object of a few kilobytes, not a thread, so thousands of idle keep-alive clients neither exhaust
threads nor keep a new client waiting (docs/performance.md measures 5,000). Only the route, which
runs the model, takes a thread. The bounds:

- At most `max_connections` open connections. One more is answered 503 and closed by a small
  protocol that writes the answer at once and reads the request away first (closing on unread
  data would reset the connection before the client reads its 503).
- At most `workers` requests handled at a time (TF Serving's `--rest_api_num_threads`): the route
  runs on that many threads. A request that finds every one busy waits for one, before its body is
  read, up to `queue_timeout` seconds, then gets 503. So memory holds at most `workers` bodies of
  at most `MAX_BODY_BYTES` each (more is 413), however many clients push.
- A connection silent for `io_timeout` seconds is closed (aiohttp's keep-alive timer, which also
  runs from the connect and through half-sent headers), and a body that has not arrived within
  `io_timeout` is answered 408, so slow or silent clients cannot hold workers.
- `stop_accepting` then `drain` is the graceful stop: the listening socket closes, a request on
  an open connection gets 503, the requests already being handled finish, and every answer during
  the stop closes its connection. A refused request's body is read away by aiohttp's lingering
  close, so its client reads the answer.
"""

from __future__ import annotations

import asyncio
import resource
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiohttp import web
from liveri.serve.event_loop import EventLoopThread

from liveri.errors import UsageError

# (method, path, body, arrived: time.monotonic() when the request came) -> (status, body, type)
Route = Callable[[str, str, bytes, float], tuple[int, bytes, str]]
MAX_BODY_BYTES = 1 << 30
MAX_CONNECTIONS = 16_384
_JSON = "application/json"
_BUSY = b'{"error":"server overloaded: every REST worker is busy; retry later"}'
_STOPPING = b'{"error":"server is shutting down"}'
_SLOW = b'{"error":"request body not received within the I/O timeout"}'
_TOO_LARGE = b'{"error":"request body too large"}'
_FULL = b'{"error":"server overloaded: too many open connections; retry later"}'
_REFUSED = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
            b"Connection: close\r\nContent-Length: " + str(len(_FULL)).encode() + b"\r\n\r\n"
            + _FULL)
DISCARD_LIMIT = 1 << 20
_REFUSE_READ_S = 0.5  # how long a refused client may take to send its request
DEFAULT_WAIT_S = 30.0  # for a worker, when no REST timeout is set
_BACKLOG = 4096  # connections the kernel queues before the loop accepts them


class _Refuse(asyncio.Protocol):
    """A connection past the limit: answered 503 at once, read away (up to 1 MiB, for half a
    second) so that the client reads the answer, then closed."""

    def connection_made(self, transport: Any) -> None:
        self._transport = transport
        self._left = DISCARD_LIMIT
        transport.write(_REFUSED)
        if transport.can_write_eof():
            transport.write_eof()
        asyncio.get_running_loop().call_later(_REFUSE_READ_S, transport.close)

    def data_received(self, data: bytes) -> None:
        self._left -= len(data)
        if self._left <= 0:
            self._transport.close()

    def eof_received(self) -> bool:
        self._transport.close()
        return False


def _answer(status: int, body: bytes, kind: str = _JSON, close: bool = False) -> web.Response:
    response = web.Response(status=status, body=body, headers={"Content-Type": kind})
    if close:
        response.force_close()
    return response


def allow_open_files() -> None:
    """Raise this process's open-file limit to its hard limit: each connection takes one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class HttpServer:
    """Serves `route` on host:port (0 picks a free port) on `loop`."""

    def __init__(self, loop: EventLoopThread, host: str, port: int, route: Route, name: str,
                 workers: int = 32, max_connections: int = MAX_CONNECTIONS,
                 queue_timeout: float | None = 30.0, io_timeout: float = 60.0) -> None:
        if workers < 1:
            raise UsageError(f"{name}: the number of worker threads must be >= 1, got {workers}")
        allow_open_files()
        self._loop = loop
        self._route = route
        self._threads = ThreadPoolExecutor(workers, thread_name_prefix=f"liveri-{name}")
        self._free = asyncio.Semaphore(workers)
        self._queue_timeout = queue_timeout or DEFAULT_WAIT_S
        self._io_timeout = io_timeout
        self._max_connections = max_connections
        self._stopping = False
        self._handling = 0  # requests between their headers and their answer
        self._changed = threading.Condition()
        self._web = web.Server(self._handle, loop=loop.loop, request_factory=self._request,
                               keepalive_timeout=io_timeout, access_log=None)
        try:
            self._listener = loop.run(loop.loop.create_server(
                self._connect, host, port, backlog=_BACKLOG, reuse_address=True))
        except OSError as exc:
            self._threads.shutdown(wait=False)
            raise UsageError(f"cannot listen for {name} on {host}:{port}: {exc.strerror}") from None
        self.port = self._listener.sockets[0].getsockname()[1]

    def _connect(self) -> asyncio.Protocol:
        if len(self._web.connections) >= self._max_connections:
            return _Refuse()
        return self._web()

    def _request(self, message: Any, payload: Any, protocol: Any, writer: Any, task: Any
                 ) -> web.BaseRequest:
        return web.BaseRequest(message, payload, protocol, writer, task, self._loop.loop,
                               client_max_size=MAX_BODY_BYTES)

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        arrived = time.monotonic()  # a deadline counts the wait for a worker too
        with self._changed:
            if self._stopping:
                return _answer(503, _STOPPING, close=True)
            self._handling += 1
        try:
            try:
                async with asyncio.timeout(self._queue_timeout):
                    await self._free.acquire()
            except TimeoutError:
                return _answer(503, _BUSY, close=True)
            try:
                response = await self._run(request, arrived)
            finally:
                self._free.release()
            if self._stopping:  # a kept-alive client reconnects elsewhere
                response.force_close()
            return response
        finally:
            with self._changed:
                self._handling -= 1
                self._changed.notify_all()

    async def _run(self, request: web.BaseRequest, arrived: float) -> web.Response:
        if (request.content_length or 0) > MAX_BODY_BYTES:
            return _answer(413, _TOO_LARGE, close=True)
        try:
            async with asyncio.timeout(self._io_timeout):
                body = await request.read()
        except TimeoutError:
            return _answer(408, _SLOW, close=True)
        except web.HTTPRequestEntityTooLarge:  # a chunked body past the limit
            return _answer(413, _TOO_LARGE, close=True)
        try:
            status, out, kind = await self._loop.loop.run_in_executor(
                self._threads, self._route, request.method, request.raw_path, body, arrived)
        except Exception:  # a route's bug answers 500; the server goes on
            return _answer(500, b'{"error":"internal error"}')
        return _answer(status, out, kind)

    def stop_accepting(self) -> None:
        """Close the listening socket; a request arriving on an open connection gets 503."""
        with self._changed:
            self._stopping = True
        self._loop.run(self._close_listener())

    async def _close_listener(self) -> None:
        self._listener.close()

    def drain(self, timeout: float) -> bool:
        """Wait (up to `timeout` s) for the requests being handled; True once none is left."""
        end = time.monotonic() + timeout
        with self._changed:
            while self._handling:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
        return True

    def close(self) -> None:
        """Close every connection left (after `drain`) and let the worker threads go."""
        self._loop.run(self._web.shutdown(1.0))
        self._threads.shutdown(wait=False)

    def stop(self, grace: float = 10.0) -> None:
        self.stop_accepting()
        self.drain(grace)
        self.close()
