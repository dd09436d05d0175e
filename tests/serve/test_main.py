"""`liveri serve` as a deployment script runs it: TF Serving flags, foreground, SIGTERM."""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import grpc
import pytest
import tensorflow as tf
from liveri.serve import flags, main
from tensorflow_serving.apis import prediction_service_pb2_grpc

from liveri.errors import UsageError
from tests.serve.serve_helpers import digits_reference, digits_request, sample_pixels

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUNNER = ("import sys\n"
          "from liveri.errors import UsageError\n"
          "from liveri.serve import flags, main\n"
          "try:\n"
          "    sys.exit(main.serve_command(flags.parse_args(sys.argv[1:])))\n"
          "except UsageError as e:\n"
          "    print(e, file=sys.stderr); sys.exit(2)\n")


def test_tensorflow_model_server_flags_parse(capsys):
    args = flags.parse_args([
        "--port=9000", "--rest_port=9001", "--model_name=hp2", "--model_base_path=/m/hp2",
        "--enable_batching", "--file_system_poll_wait_seconds=5",
        "--tensorflow_session_parallelism=2", "--enable_model_warmup=true",
        "--tensorflow_intra_op_parallelism=1", "--tensorflow_inter_op_parallelism=3"])
    assert (args.port, args.rest_api_port, args.model_name) == (9000, 9001, "hp2")
    assert (args.tensorflow_intra_op_parallelism, args.tensorflow_inter_op_parallelism) == (1, 3)
    assert args.enable_batching is True and args.file_system_poll_wait_seconds == 5
    assert args.host == "127.0.0.1" and args.metrics_port == 8502
    warnings = capsys.readouterr().err
    assert "--tensorflow_session_parallelism" in warnings and "--enable_model_warmup" in warnings
    assert "_op_parallelism" not in warnings
    assert flags.parse_args(["--enable_batching=false"]).enable_batching is False


def test_no_models_is_a_usage_error(tmp_path):
    parser = argparse.ArgumentParser()
    flags.add_arguments(parser)
    with pytest.raises(UsageError, match="needs models"):
        main.serve_command(parser.parse_args([]))
    with pytest.raises(UsageError, match="no models found"):
        main.serve_command(parser.parse_args(["--model_repo", str(tmp_path), "--port=0"]))


def test_serves_in_the_foreground_until_sigterm(model_repo):
    process = subprocess.Popen(
        [sys.executable, "-c", RUNNER, "--model_repo", model_repo, "--port=0",
         "--rest_api_port=0", "--metrics_port=0", "--enable_batching",
         "--tensorflow_intra_op_parallelism=1", "--tensorflow_inter_op_parallelism=2"],
        cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        port, lines = None, []
        for line in process.stderr:
            lines.append(line)
            if line.startswith("liveri serve: gRPC on"):
                port = int(line.split(":")[2].split(",")[0])
                break
        assert port, "server did not report its port"
        assert any("TensorFlow thread pools: intra-op 1, inter-op 2" in x for x in lines)
        stub = prediction_service_pb2_grpc.PredictionServiceStub(
            grpc.insecure_channel(f"127.0.0.1:{port}"))
        pixels = sample_pixels(3)
        answer = stub.Predict(digits_request(pixels), timeout=10)
        assert tf.make_ndarray(answer.outputs["classes"]).tolist() == \
            digits_reference(0, pixels).tolist()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        assert "stopped" in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()


def free_port() -> int:
    """A port free now: the CLI's --rest_api_port=0 and --metrics_port=0 mean "off"."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("protocol", ["grpc", "rest"])
def test_a_request_in_flight_during_sigterm_finishes_and_exit_is_0(model_repo, tmp_path,
                                                                    protocol):
    # A long batch timeout holds the request inside the server while SIGTERM arrives; the real
    # CLI, as a deployment script starts it.
    params = tmp_path / "batching.txt"
    params.write_text("max_batch_size { value: 64 }\nbatch_timeout_micros { value: 2000000 }\n"
                      "num_batch_threads { value: 1 }\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "liveri.cli", "serve", "--model_repo", model_repo, "--port=0",
         f"--rest_api_port={free_port()}", f"--metrics_port={free_port()}", "--enable_batching",
         f"--batching_parameters_file={params}"],
        cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        port = rest_port = metrics_port = None
        for line in process.stderr:
            if line.startswith("liveri serve: gRPC on"):
                port = int(line.split(":")[2].split(",")[0])
                rest_port = int(re.search(r"REST on port (\d+)", line).group(1))
                metrics_port = int(re.search(r"metrics on port (\d+)", line).group(1))
                break
        assert port and rest_port and metrics_port, "server did not report its ports"
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        grpc.channel_ready_future(channel).result(timeout=30)
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)

        def queued_rows() -> float:
            text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics",
                                          timeout=10).read().decode()
            found = re.search(r'liveri_serve_batch_queue_depth\{model="digits",'
                              r'signature="serving_default"\} (\S+)', text)
            return float(found.group(1)) if found else 0.0
        pixels = sample_pixels(3, seed=11)
        answers: list = []

        def ask() -> None:
            if protocol == "grpc":
                answer = stub.Predict(digits_request(pixels), timeout=30)
                answers.append(tf.make_ndarray(answer.outputs["classes"]).tolist())
                return
            body = json.dumps({"instances": pixels.tolist()}).encode()
            request = urllib.request.Request(
                f"http://127.0.0.1:{rest_port}/v1/models/digits:predict", data=body)
            with urllib.request.urlopen(request, timeout=30) as answer:
                assert answer.status == 200
                answers.append([row["classes"] for row in json.loads(answer.read())["predictions"]])

        client = threading.Thread(target=ask)
        client.start()
        deadline = time.monotonic() + 30
        while queued_rows() < len(pixels):  # its batch gathers for 2 s
            assert time.monotonic() < deadline, "the request never reached the batch queue"
            time.sleep(0.02)
        assert not answers, "the request must still be in the server at SIGTERM"
        process.send_signal(signal.SIGTERM)
        client.join(30)
        assert answers == [digits_reference(0, pixels).tolist()]
        assert process.wait(timeout=60) == 0
        with pytest.raises(grpc.RpcError) as refused:  # and it no longer accepts requests
            stub.Predict(digits_request(pixels), timeout=5)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{rest_port}/v1/models/digits", timeout=5)
    finally:
        if process.poll() is None:
            process.kill()
