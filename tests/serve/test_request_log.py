"""Request logging (`logging_config`): sampled requests and answers as PredictionLog TFRecords,
rotated and bounded, usable as warmup; over real gRPC and REST against a real server."""

from __future__ import annotations

import glob
import json
import os
import shutil
import urllib.request

import grpc
import numpy as np
import pytest
import tensorflow as tf
from liveri.serve.config import parse_model_config_text, specs_from_config
from liveri.serve.server import ModelServer
from liveri.serve.warmup import WARMUP_FILE
from tensorflow_serving.apis import (
    classification_pb2,
    prediction_log_pb2,
    prediction_service_pb2_grpc,
)

from liveri.errors import UsageError
from liveri.request_records import read_tfrecords
from tests.serve.serve_helpers import digits_reference, digits_request, install, sample_pixels

CONFIG = """
model_config_list {
  config {
    name: "digits" base_path: "%(repo)s/digits"
    logging_config {
      log_collector_config { filename_prefix: "%(logs)s/digits" }
      sampling_config { sampling_rate: %(rate)s }
    }
  }
  config { name: "half_plus_two" base_path: "%(repo)s/half_plus_two" %(hp2_logging)s }
}
"""
HP2_LOGGING = ('logging_config { log_collector_config { filename_prefix: "%s/hp2" } '
               "sampling_config { sampling_rate: 1.0 } }")


def config_text(repo, logs, rate=1.0, hp2=False) -> str:
    return CONFIG % {"repo": repo, "logs": logs, "rate": rate,
                     "hp2_logging": HP2_LOGGING % logs if hp2 else ""}


@pytest.fixture()
def repo(tmp_path, built_models):
    path = str(tmp_path / "repo")
    install(built_models["digits"], path, "digits", 1)
    install(built_models["half_plus_two"], path, "half_plus_two", 1)
    return path


def logged(prefix: str) -> list[prediction_log_pb2.PredictionLog]:
    records = []
    for path in sorted(glob.glob(prefix + "-*.tfrecord")):
        records += [prediction_log_pb2.PredictionLog.FromString(r) for r in read_tfrecords(path)]
    return records


def serve(tmp_path, text: str, **options) -> ModelServer:
    config = tmp_path / "models.config"
    config.write_text(text)
    return ModelServer(model_config_file=str(config), port=0, rest_api_port=0, metrics_port=0,
                       file_system_poll_wait_seconds=0, **options)


def rest_predict(port: int, pixels: np.ndarray) -> list:
    body = json.dumps({"instances": pixels.tolist()}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/models/digits:predict", body)
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())["predictions"]


def test_grpc_and_rest_requests_are_logged_with_their_answers(tmp_path, repo):
    logs = str(tmp_path / "logs")
    server = serve(tmp_path, config_text(repo, logs, hp2=True))
    pixels = sample_pixels(5)
    with server:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(
            grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}"))
        for i in range(3):
            stub.Predict(digits_request(pixels[i:i + 1]), timeout=10)
        rest_predict(server.rest_port, pixels[3:5])
        classify = classification_pb2.ClassificationRequest()
        classify.model_spec.name = "half_plus_two"
        classify.model_spec.signature_name = "classify_x_to_y"
        classify.input.example_list.examples.add().features.feature["x"].float_list.value.append(4)
        stub.Classify(classify, timeout=10)
        assert not glob.glob(logs + "/*.tfrecord")  # still being written: only .tmp files
        assert glob.glob(logs + "/digits-*.tfrecord.tmp")
    assert not glob.glob(logs + "/*.tmp")  # the stop renamed them
    records = logged(logs + "/digits")
    assert len(records) == 4
    sent = [tf.make_ndarray(r.predict_log.request.inputs["pixels"]) for r in records]
    np.testing.assert_array_equal(np.concatenate(sent), pixels)  # REST's logged as gRPC's
    answered = np.concatenate([tf.make_ndarray(r.predict_log.response.outputs["classes"])
                               for r in records])
    np.testing.assert_array_equal(answered, digits_reference(0, pixels))
    spec = records[0].log_metadata.model_spec
    assert (spec.name, spec.version.value, spec.signature_name) == ("digits", 1,
                                                                    "serving_default")
    assert records[0].log_metadata.sampling_config.sampling_rate == 1.0
    (classified,) = logged(logs + "/hp2")
    assert classified.classify_log.response.result.classifications[0].classes[0].score == 4.0


def test_sampling_rotation_and_the_disk_bound(tmp_path, repo):
    logs = str(tmp_path / "logs")
    server = serve(tmp_path, config_text(repo, logs, rate=0.5),
                   request_log_max_file_bytes=4000, request_log_max_total_bytes=20000)
    with server:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(
            grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}"))
        for _ in range(400):
            stub.Predict(digits_request(sample_pixels(1)), timeout=10)
        metrics = urllib.request.urlopen(
            f"http://127.0.0.1:{server.metrics_port}/metrics", timeout=10).read().decode()
    files = sorted(glob.glob(logs + "/digits-*.tfrecord"))
    sizes = [os.path.getsize(f) for f in files]
    assert len(files) >= 3 and all(size <= 4000 + 600 for size in sizes)  # one record past
    assert sum(sizes[:-1]) <= 20000  # the oldest were deleted; the newest always stays
    assert os.path.basename(files[0]) != "digits-000000.tfrecord"
    numbers = [int(f.rsplit("-", 1)[1].split(".")[0]) for f in files]
    assert numbers == list(range(numbers[0], numbers[0] + len(files)))
    written = [line for line in metrics.splitlines()
               if line.startswith("liveri_serve_request_log_records_total")
               and 'status="written"' in line]
    count = float(written[0].rsplit(" ", 1)[1])
    assert 120 <= count <= 280  # 400 requests sampled at 0.5: 200 +- 8 standard deviations


def test_a_log_file_is_a_warmup_file_and_numbering_continues(tmp_path, repo, built_models):
    logs = str(tmp_path / "logs")
    with serve(tmp_path, config_text(repo, logs)) as server:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(
            grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}"))
        for i in range(6):
            stub.Predict(digits_request(sample_pixels(2, seed=i)), timeout=10)
    (first,) = glob.glob(logs + "/digits-*.tfrecord")
    version = install(built_models["digits"], repo, "digits", 2)
    shutil.copy(first, os.path.join(version, WARMUP_FILE))  # real traffic warms version 2
    with serve(tmp_path, config_text(repo, logs)) as server:
        assert server.manager.handle("digits", 2, None).servable.version == 2
        stub = prediction_service_pb2_grpc.PredictionServiceStub(
            grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}"))
        stub.Predict(digits_request(sample_pixels(1)), timeout=10)
    # numbered after the first file; the replayed warmup was not logged again
    assert first.endswith("-000000.tfrecord")
    assert sorted(glob.glob(logs + "/digits-*.tfrecord")) == [
        first, first.replace("-000000.", "-000001.")]
    assert len(logged(logs + "/digits")) == 6 + 1


@pytest.mark.parametrize("logging, field", [
    ('log_collector_config { filename_prefix: "/tmp/x" } sampling_config { sampling_rate: 2 }',
     "sampling_rate"),
    ('log_collector_config { type: "kafka" filename_prefix: "/tmp/x" } '
     "sampling_config { sampling_rate: 1 }", "log_collector_config.type"),
    ("sampling_config { sampling_rate: 1 }", "filename_prefix"),
])
def test_a_bad_logging_config_names_its_field(logging, field):
    text = 'model_config_list { config { name: "m" base_path: "/m" logging_config { %s } } }'
    with pytest.raises(UsageError, match=field):
        specs_from_config(parse_model_config_text(text % logging))


def test_a_prefix_whose_folder_cannot_be_made_is_refused_at_start(tmp_path, repo):
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    with pytest.raises(UsageError, match="filename_prefix: cannot create"):
        serve(tmp_path, config_text(repo, str(blocker / "logs"))).start()


def test_a_size_bound_that_is_not_positive_is_refused_by_name():
    from liveri.serve import flags
    from liveri.serve.main import server_from_args

    args = flags.parse_args(["--model_repo", "/models", "--request_log_max_file_bytes", "0"])
    with pytest.raises(UsageError, match="--request_log_max_file_bytes: expected a positive"):
        server_from_args(args)
