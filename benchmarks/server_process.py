"""A model server for the bench, in its own process so client and server do not share a GIL.

The parent runs `python -m liveri.benchmarks.server_process ...`; the child serves exactly the
version under test (TF Serving's `specific` version policy), prints its gRPC port (and its REST
port, with `--rest`) as one JSON line once the model is loaded and warmed, and stops when its
stdin closes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

START_TIMEOUT_S = 120.0


class ServerUnavailable(Exception):
    """No server could be started (serve missing or the model failed to load); says why."""


@contextlib.contextmanager
def started_server(model_repo: Path, name: str, version: int,
                   enable_batching: bool = False) -> Iterator[str]:
    """Start a server for REPO/NAME/VERSION in a child process; yields its gRPC HOST:PORT."""
    with started_child(model_repo, name, version, enable_batching) as (_child, ports):
        yield f"127.0.0.1:{ports['grpc_port']}"


@contextlib.contextmanager
def started_child(model_repo: Path, name: str, version: int, enable_batching: bool = False,
                  rest: bool = False, backend: str = "tensorflow"
                  ) -> Iterator[tuple[subprocess.Popen, dict[str, int]]]:
    """Start a server for REPO/NAME/VERSION in a child process (`backend`: its
    --liveri_backend); yields it and its ports ({"grpc_port": P[, "rest_port": R]})."""
    command = [sys.executable, "-m", "liveri.benchmarks.server_process", "--model_repo",
               str(model_repo), "--name", name, "--version", str(version)]
    if enable_batching:
        command.append("--enable_batching")
    if rest:
        command.append("--rest")
    command += ["--liveri_backend", backend]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    with tempfile.TemporaryFile() as stderr:
        child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=stderr, env=env)
        try:
            ports = _read_ports(child)
            if ports is None:
                child.kill()
                child.wait()
                stderr.seek(0)
                tail = stderr.read().decode(errors="replace").strip().splitlines()[-5:]
                raise ServerUnavailable("the bench's model server did not start: "
                                        + (" | ".join(tail) or f"exit {child.returncode}"))
            yield child, ports
        finally:
            # Nothing in the child outlives the bench, so no graceful drain is needed.
            if child.poll() is None:
                child.stdin.close()
                child.terminate()
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()


def _read_ports(child: subprocess.Popen) -> dict[str, int] | None:
    line: list[bytes] = []
    reader = threading.Thread(target=lambda: line.append(child.stdout.readline()), daemon=True)
    reader.start()
    reader.join(START_TIMEOUT_S)
    try:
        ports = json.loads(line[0]) if line and line[0] else None
        return ports if isinstance(ports, dict) and "grpc_port" in ports else None
    except ValueError:
        return None


def _serve(args: argparse.Namespace) -> int:
    try:
        from liveri.serve.server import ModelServer
        from tensorflow_serving.config import model_server_config_pb2
    except ImportError as e:
        print(f"liveri.serve is not available: {e}", file=sys.stderr)
        return 3
    config = model_server_config_pb2.ModelServerConfig()
    model = config.model_config_list.config.add()
    model.name = args.name
    model.base_path = str(Path(args.model_repo).resolve() / args.name)
    model.model_platform = "tensorflow"
    model.model_version_policy.specific.versions.append(args.version)
    server = ModelServer(model_config=config, port=0, rest_api_port=0 if args.rest else None,
                         metrics_port=None,
                         enable_batching=args.enable_batching,
                         file_system_poll_wait_seconds=0, liveri_backend=args.liveri_backend)
    with server:
        ports = {"grpc_port": server.grpc_port}
        if args.rest:
            ports["rest_port"] = server.rest_port
        print(json.dumps(ports), flush=True)
        sys.stdin.read()  # until the parent closes our stdin (or dies)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model_repo", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--version", type=int, required=True)
    parser.add_argument("--enable_batching", action="store_true")
    parser.add_argument("--rest", action="store_true", help="serve REST on a free port too")
    parser.add_argument("--liveri_backend", default="tensorflow")
    return _serve(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
