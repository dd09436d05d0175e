"""A small threaded HTTP server for the REST API and the metrics endpoint.

Standard library only: one thread per connection, bodies bounded, nothing evaluated. Load is
bounded twice: at most `max_connections` open connections (one more is answered 503 and closed
by one refusing thread, which reads its request away first, so the client reads the 503 rather
than a reset), and at most `workers` requests handled at a time (TF Serving's
`--rest_api_num_threads`); a request that finds every worker busy waits for one, before its body
is read, up to `queue_timeout` seconds, then gets 503. So memory holds at most `workers` bodies,
however many clients push. A connection that sends or reads nothing for `io_timeout` seconds is
closed, so slow or silent clients cannot hold workers or connection slots. `stop_accepting` then
`drain` is the graceful stop: no new connection or request is taken, the requests already being
handled finish, and their answers close their connections.
"""

from __future__ import annotations

import queue
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from liveri.errors import UsageError

# (method, path, body, arrived: time.monotonic() when the request came) -> (status, body, type)
Route = Callable[[str, str, bytes, float], tuple[int, bytes, str]]
MAX_BODY_BYTES = 1 << 30
MAX_CONNECTIONS = 1024
_JSON = "application/json"
_BUSY = b'{"error":"server overloaded: every REST worker is busy; retry later"}'
_STOPPING = b'{"error":"server is shutting down"}'
_FULL = b'{"error":"server overloaded: too many open connections; retry later"}'
_REFUSED = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
            b"Connection: close\r\nContent-Length: " + str(len(_FULL)).encode() + b"\r\n\r\n"
            + _FULL)
DISCARD_LIMIT = 1 << 20
_REFUSING_AT_ONCE = 64  # refused connections waiting for the refusing thread; more just close
_REFUSE_READ_S = 0.5  # how long a refused client may take to send its request
DEFAULT_WAIT_S = 30.0  # for a worker, when no REST timeout is set


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # an idle keep-alive connection must not hold the process at exit
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler],
                 workers: int, max_connections: int, queue_timeout: float | None) -> None:
        super().__init__(address, handler)
        self.workers = threading.BoundedSemaphore(workers)
        self.queue_timeout = queue_timeout or DEFAULT_WAIT_S
        self.max_connections = max_connections
        self.connections = 0
        self.handling = 0  # requests between reading their headers and writing their answer
        self.stopping = False
        self.changed = threading.Condition()
        self._refused: queue.Queue = queue.Queue(_REFUSING_AT_ONCE)
        threading.Thread(target=self._refuse, name="liveri-http-refuse", daemon=True).start()

    def _refuse(self) -> None:
        """Answer each connection past the limit 503: write it, read the request away (closing
        on unread data would reset the connection before the client reads), then close."""
        while (request := self._refused.get()) is not None:
            try:
                request.settimeout(_REFUSE_READ_S)
                request.sendall(_REFUSED)
                request.shutdown(socket.SHUT_WR)
                left = DISCARD_LIMIT
                while left > 0 and (piece := request.recv(1 << 16)):
                    left -= len(piece)
            except OSError:
                pass
            finally:
                request.close()

    def server_close(self) -> None:
        super().server_close()
        try:
            self._refused.put(None, timeout=1)  # the refusing thread ends after the queue
        except queue.Full:
            pass

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.changed:
            full = self.connections >= self.max_connections
            if not full:
                self.connections += 1
        if full:
            try:
                self._refused.put_nowait(request)
            except queue.Full:  # a flood: no time to be polite
                self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:  # no thread started (say, a thread limit): free the slot
            with self.changed:
                self.connections -= 1
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self.changed:
                self.connections -= 1


def _handler(route: Route) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "liveri-serve"
        server: _Server

        def _answer(self, method: str) -> None:
            arrived = time.monotonic()  # a deadline counts the wait for a worker too
            server = self.server
            with server.changed:
                stopping = server.stopping
                if not stopping:
                    server.handling += 1
            if stopping:  # written outside the lock: a client that reads nothing blocks no one
                self._discard_body()
                self._send(503, _STOPPING, _JSON, close=True)
                return
            try:
                if not server.workers.acquire(timeout=server.queue_timeout):
                    self._discard_body()
                    self._send(503, _BUSY, _JSON, close=True)
                    return
                try:
                    self._send(*self._route(method, arrived))
                finally:
                    server.workers.release()
            finally:
                with server.changed:
                    server.handling -= 1
                    server.changed.notify_all()

        def _length(self) -> int | None:
            try:
                return int(self.headers.get("Content-Length") or 0)
            except ValueError:
                return None

        def _discard_body(self) -> None:
            """Read a refused request's body away (up to 1 MiB, in small pieces), so its client
            reads the answer where closing on unread data would send it a reset instead."""
            left = self._length() or 0
            if left > DISCARD_LIMIT:
                return
            while left > 0:
                piece = self.rfile.read(min(left, 1 << 16))
                if not piece:
                    return
                left -= len(piece)

        def _route(self, method: str, arrived: float) -> tuple[int, bytes, str]:
            length = self._length()
            if length is None:
                self.close_connection = True
                return 400, b'{"error":"Content-Length must be a number"}', _JSON
            if length < 0 or length > MAX_BODY_BYTES:
                self.close_connection = True
                return 413, b'{"error":"request body too large"}', _JSON
            body_in = self.rfile.read(length) if length else b""
            try:
                return route(method, self.path, body_in, arrived)
            except Exception:  # never let a request kill the connection thread
                return 500, b'{"error":"internal error"}', _JSON

        def _send(self, status: int, body: bytes, kind: str, close: bool = False) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            if close or self.server.stopping:  # a kept-alive client reconnects elsewhere
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 (http.server's spelling)
            self._answer("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._answer("POST")

        def log_message(self, format: str, *args: object) -> None:  # quiet: metrics cover it
            return

    return Handler


class HttpServer:
    """Serves `route` on host:port (0 picks a free port) from a background thread."""

    def __init__(self, host: str, port: int, route: Route, name: str, workers: int = 32,
                 max_connections: int = MAX_CONNECTIONS, queue_timeout: float | None = 30.0,
                 io_timeout: float = 60.0) -> None:
        if workers < 1:
            raise UsageError(f"{name}: the number of worker threads must be >= 1, got {workers}")
        handler = _handler(route)
        handler.timeout = io_timeout  # socket timeout: reads and writes of one connection
        try:
            self._server = _Server((host, port), handler, workers, max_connections,
                                   queue_timeout)
        except OSError as exc:
            raise UsageError(f"cannot listen for {name} on {host}:{port}: {exc.strerror}") from None
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"liveri-{name}",
                                        daemon=True)
        self._thread.start()

    def stop_accepting(self) -> None:
        """Close the listening socket; a request arriving on an open connection gets 503."""
        with self._server.changed:
            self._server.stopping = True
        self._server.shutdown()
        self._server.server_close()

    def drain(self, timeout: float) -> bool:
        """Wait (up to `timeout` s) for the requests being handled; True once none is left."""
        end = time.monotonic() + timeout
        with self._server.changed:
            while self._server.handling:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._server.changed.wait(left)
        return True

    def stop(self, grace: float = 10.0) -> None:
        self.stop_accepting()
        self.drain(grace)
