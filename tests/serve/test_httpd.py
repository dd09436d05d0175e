"""The REST front end's HTTP server under load and at shutdown, over real sockets."""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import resource
import socket
import threading
import time

import pytest
from liveri.serve.event_loop import EventLoopThread
from liveri.serve.httpd import HttpServer, allow_open_files


@pytest.fixture(scope="module")
def loop():
    thread = EventLoopThread()
    yield thread
    thread.stop()


class GatedRoute:
    """A route that answers its request body back once the test opens the gate."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.entered = threading.Semaphore(0)
        self.arrived: dict[str, float] = {}  # request body -> when httpd says it arrived

    def __call__(self, method: str, path: str, body: bytes, arrived: float
                 ) -> tuple[int, bytes, str]:
        self.arrived[body.decode()] = arrived
        self.entered.release()
        self.gate.wait(10)
        return 200, json.dumps({"path": path, "echo": body.decode()}).encode(), "application/json"


def post(port: int, body: str, results: list, timeout: float = 10) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("POST", "/v1/x", body=body.encode())
        answer = connection.getresponse()
        results.append((answer.status, json.loads(answer.read())))
    except OSError as exc:
        results.append(exc)
    finally:
        connection.close()


def in_thread(*args) -> threading.Thread:
    thread = threading.Thread(target=post, args=args)
    thread.start()
    return thread


@contextlib.contextmanager
def one_worker_held(loop: EventLoopThread, queue_timeout: float):
    """A server with one worker, busy with a request "first" until the route's gate opens.
    Yields (server, route, holder, held): `held` gets "first"'s answer once `holder` ends."""
    route = GatedRoute()
    server = HttpServer(loop, "127.0.0.1", 0, route, "REST", workers=1, queue_timeout=queue_timeout)
    held: list = []
    holder = in_thread(server.port, "first", held)
    try:
        assert route.entered.acquire(timeout=5)
        yield server, route, holder, held
    finally:
        route.gate.set()
        holder.join(10)
        server.stop(grace=1)


def test_a_request_that_waited_for_a_worker_reaches_the_route_with_its_arrival_time(loop):
    # Its deadline (the REST timeout) must count the wait, not start again once it has a worker.
    with one_worker_held(loop, queue_timeout=10) as (server, route, holder, held):
        waited: list = []
        sent = time.monotonic()
        waiter = in_thread(server.port, "second", waited)
        time.sleep(0.5)
        route.gate.set()
        holder.join(10)
        waiter.join(10)
        assert waited == [(200, {"path": "/v1/x", "echo": "second"})]
        assert sent <= route.arrived["second"] < sent + 0.4  # not when its worker came free


def test_busy_workers_answer_503_at_the_queue_timeout_and_the_server_recovers(loop):
    with one_worker_held(loop, queue_timeout=0.3) as (server, route, holder, held):
        refused: list = []
        started = time.monotonic()
        post(server.port, "second", refused)
        assert refused[0][0] == 503 and "busy" in refused[0][1]["error"]
        assert time.monotonic() - started < 5
        route.gate.set()
        holder.join(10)
        assert held == [(200, {"path": "/v1/x", "echo": "first"})]
        after: list = []
        post(server.port, "third", after)
        assert after == [(200, {"path": "/v1/x", "echo": "third"})]


def test_a_request_waits_its_turn_for_a_worker_within_the_timeout(loop):
    with one_worker_held(loop, queue_timeout=10) as (server, route, holder, held):
        second: list = []
        waiting = in_thread(server.port, "b", second)
        time.sleep(0.3)
        assert not second  # waiting for the worker, not refused
        route.gate.set()
        holder.join(10)
        waiting.join(10)
        assert held[0][0] == second[0][0] == 200


def test_connections_past_the_limit_are_refused_at_once(loop):
    route = GatedRoute()
    route.gate.set()
    server = HttpServer(loop, "127.0.0.1", 0, route, "REST", max_connections=2)
    idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(2)]
    try:
        time.sleep(0.2)  # both are open connection threads now
        refused: list = []
        post(server.port, "third", refused)
        assert refused[0][0] == 503
        # A client whose request reaches the server after its refusal still reads the 503,
        # not a reset: the server reads the request away before it closes.
        late = socket.create_connection(("127.0.0.1", server.port))
        time.sleep(0.2)
        late.sendall(b"POST /v1/x HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n")
        time.sleep(0.1)  # as http.client does: the body in a write of its own
        late.sendall(b"late")
        late.settimeout(5)
        assert late.recv(12) == b"HTTP/1.1 503"
        late.close()
        for connection in idle:
            connection.close()
        deadline = time.monotonic() + 5
        answered: list = []
        while time.monotonic() < deadline:  # their threads end once the sockets close
            answered.clear()
            post(server.port, "later", answered)
            if isinstance(answered[0], tuple) and answered[0][0] == 200:
                break
            time.sleep(0.05)
        assert answered == [(200, {"path": "/v1/x", "echo": "later"})]
    finally:
        server.stop(grace=1)


def test_stopping_refuses_new_connections_and_lets_handled_requests_finish(loop):
    route = GatedRoute()
    server = HttpServer(loop, "127.0.0.1", 0, route, "REST")
    held: list = []
    holder = in_thread(server.port, "in flight", held)
    assert route.entered.acquire(timeout=5)
    server.stop_accepting()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2)
    assert not server.drain(0.2)  # still handling "in flight"
    route.gate.set()
    assert server.drain(5)
    holder.join(5)
    assert held == [(200, {"path": "/v1/x", "echo": "in flight"})]


def test_a_kept_alive_connection_is_closed_by_the_answers_during_a_stop(loop):
    route = GatedRoute()
    route.gate.set()
    server = HttpServer(loop, "127.0.0.1", 0, route, "REST")
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request("POST", "/v1/x", body=b"before")
        answer = connection.getresponse()
        assert answer.status == 200 and answer.getheader("Connection") != "close"
        answer.read()
        server.stop_accepting()
        connection.request("POST", "/v1/x", body=b"x" * 200_000)  # on the open connection
        answer = connection.getresponse()
        assert answer.status == 503 and answer.getheader("Connection") == "close"
        assert "shutting down" in json.loads(answer.read())["error"]
    finally:
        connection.close()
        server.stop(grace=1)


def test_a_silent_client_loses_its_worker_at_the_io_timeout(loop):
    route = GatedRoute()
    route.gate.set()
    server = HttpServer(loop, "127.0.0.1", 0, route, "REST", workers=1, queue_timeout=5,
                        io_timeout=0.5)
    silent = socket.create_connection(("127.0.0.1", server.port))
    try:  # headers promising a body that never comes: it holds the only worker
        silent.sendall(b"POST /v1/x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
        time.sleep(0.2)
        answered: list = []
        post(server.port, "next", answered)  # waits for the worker, gets it at the io timeout
        assert answered == [(200, {"path": "/v1/x", "echo": "next"})]
        silent.settimeout(5)
        assert silent.recv(12) == b"HTTP/1.1 408"  # and the silent client is told why
    finally:
        silent.close()
        server.stop(grace=1)


def test_a_refused_request_with_a_large_body_still_reads_its_503(loop):
    with one_worker_held(loop, queue_timeout=0.3) as (server, _route, _holder, _held):
        refused: list = []
        post(server.port, "y" * 500_000, refused)  # over the socket buffers: read away first
        assert isinstance(refused[0], tuple) and refused[0][0] == 503


def test_a_content_length_that_is_not_a_number_is_400_and_the_server_goes_on(loop):
    route = GatedRoute()
    route.gate.set()
    server = HttpServer(loop, "127.0.0.1", 0, route, "REST")
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
            raw.sendall(b"POST /v1/x HTTP/1.1\r\nHost: x\r\nContent-Length: lots\r\n\r\n")
            reply = raw.recv(4096).decode()
        # aiohttp's parser answers it, as HTTP/1.0 (the request never parsed)
        assert re.match(r"HTTP/1\.[01] 400", reply) and "Content-Length" in reply
        answered: list = []
        post(server.port, "after", answered)
        assert answered == [(200, {"path": "/v1/x", "echo": "after"})]
    finally:
        server.stop(grace=1)


def resident_kib() -> int:
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_five_thousand_idle_connections_cost_little_and_a_new_client_is_answered_at_once(loop):
    count = 5000
    allow_open_files()
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < 2 * count + 256:
        pytest.skip("the open-file limit is below 2 connections' ends times 5,000")
    route = GatedRoute()
    route.gate.set()
    server = HttpServer(loop, "127.0.0.1", 0, route, "REST", workers=2)
    idle: list[socket.socket] = []
    try:
        post(server.port, "warm", [])
        before = resident_kib()
        idle += [socket.create_connection(("127.0.0.1", server.port)) for _ in range(count)]
        time.sleep(0.5)  # every one accepted: the thread-per-connection server failed here
        answered: list = []
        started = time.monotonic()
        post(server.port, "new client", answered, timeout=5)
        assert answered == [(200, {"path": "/v1/x", "echo": "new client"})]
        assert time.monotonic() - started < 1.0
        grown_kib = resident_kib() - before  # both ends live in this process
        assert grown_kib < count * 20, f"{grown_kib / count:.1f} KiB per idle connection"
    finally:
        for connection in idle:
            connection.close()
        server.stop(grace=1)
