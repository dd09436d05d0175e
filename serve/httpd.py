"""A small threaded HTTP server for the REST API and the metrics endpoint.

Standard library only: one thread per connection, bodies bounded, nothing evaluated.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from liveri.errors import UsageError

# (method, path, body) -> (status, body, content type)
Route = Callable[[str, str, bytes], tuple[int, bytes, str]]
MAX_BODY_BYTES = 1 << 30


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def _handler(route: Route) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "liveri-serve"

        def _answer(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length < 0 or length > MAX_BODY_BYTES:
                status, body, kind = 413, b'{"error":"request body too large"}', "application/json"
                self.close_connection = True
            else:
                body_in = self.rfile.read(length) if length else b""
                try:
                    status, body, kind = route(method, self.path, body_in)
                except Exception:  # never let a request kill the connection thread
                    status, kind = 500, "application/json"
                    body = b'{"error":"internal error"}'
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
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

    def __init__(self, host: str, port: int, route: Route, name: str) -> None:
        try:
            self._server = _Server((host, port), _handler(route))
        except OSError as exc:
            raise UsageError(f"cannot listen for {name} on {host}:{port}: {exc.strerror}") from None
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"liveri-{name}",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
