"""Real traffic closes the loop: requests the server logged become `liveri bench`'s load and
`liveri export`'s int8 calibration examples (issue 24, item 7), as a user runs them."""

from __future__ import annotations

import glob
import json
import urllib.request

import numpy as np
from liveri.benchmarks.inputs import warmup_examples
from liveri.serve.config import parse_model_config_text
from liveri.serve.server import ModelServer

from liveri.artifact import manifest
from tests.conftest import liveri

MODEL = "image_digits"
CONFIG = """
model_config_list { config {
  name: "image_digits" base_path: "%s/image_digits"
  logging_config {
    log_collector_config { filename_prefix: "%s/digits" }
    sampling_config { sampling_rate: 1.0 }
  }
} }
"""


def test_logged_requests_drive_bench_and_calibrate_int8(digits_repo, digits_logdir, tmp_path):
    logs = tmp_path / "logs"
    pixels = warmup_examples(digits_repo / MODEL / "1")["pixels"]
    rows = np.concatenate([pixels] * (48 // len(pixels) + 1))[:48]
    config = parse_model_config_text(CONFIG % (digits_repo, logs))
    with ModelServer(model_config=config, port=0, rest_api_port=0, metrics_port=None,
                     file_system_poll_wait_seconds=0) as server:
        for start in range(0, 48, 6):  # eight REST clients' requests of six images each
            body = json.dumps({"instances": rows[start:start + 6].tolist()}).encode()
            url = f"http://127.0.0.1:{server.rest_port}/v1/models/{MODEL}:predict"
            urllib.request.urlopen(urllib.request.Request(url, body), timeout=30).read()
    (log_file,) = glob.glob(f"{logs}/digits-*.tfrecord")

    bench_out = tmp_path / "bench"
    liveri("bench", "--model_repo", str(digits_repo), "--name", MODEL, "--requests", log_file,
           "--no_server", "--quick", "--out", str(bench_out))
    bench = json.loads((bench_out / "bench.json").read_text())
    assert bench["inputs"] == {"from": [log_file], "examples": 48}
    assert bench["artifacts"] and not bench["skipped"]

    repo = tmp_path / "repo"
    liveri("export", "-e", "image.Digits", "--logdir", str(digits_logdir), "--model_repo",
           str(repo), "--formats", "saved_model,tflite_int8", "--calibration_requests", log_file)
    int8 = manifest.load(repo / MODEL / "1").artifact("tflite_int8")
    assert int8.notes["calibrated_on"] == "48 logged requests"
    assert int8.metrics["agreement"] >= 0.9  # calibrated on real inputs, it still agrees

    wrong = tmp_path / "wrong.tfrecord"
    wrong.write_bytes(b"not a log")
    refused = liveri("export", "-e", "image.Digits", "--logdir", str(digits_logdir),
                     "--model_repo", str(tmp_path / "other"), "--calibration_requests",
                     str(wrong), check=False)
    assert refused.returncode == 2 and "no predict requests" in refused.stderr
