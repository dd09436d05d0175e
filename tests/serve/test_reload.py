"""New versions on disk are found, loaded, warmed and swapped in without failing a request."""

from __future__ import annotations

import threading
import time

import grpc
import numpy as np
import tensorflow as tf
from liveri.serve.loader import load_saved_model
from liveri.serve.manager import ServableManager, State
from liveri.serve.server import ModelServer
from liveri.serve.source import ModelSpec
from tensorflow_serving.apis import (
    get_model_status_pb2,
    model_service_pb2_grpc,
    prediction_service_pb2_grpc,
)

from tests.serve.serve_helpers import digits_reference, digits_request, install, sample_pixels


def test_new_version_under_load_from_four_clients_fails_nothing(tmp_path, built_models):
    repo = str(tmp_path)
    install(built_models["digits"], repo, "digits", 1)
    pixels = sample_pixels(4)
    expected = {1: digits_reference(0, pixels), 2: digits_reference(1, pixels)}
    assert not np.array_equal(expected[1], expected[2])  # the swap must be visible
    failures: list[str] = []
    seen: list[set[int]] = [set() for _ in range(4)]
    stop = threading.Event()
    with ModelServer(model_repo=repo, port=0, rest_api_port=None, metrics_port=None,
                     file_system_poll_wait_seconds=0.2) as server:
        channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)

        def client(index: int) -> None:
            while not stop.is_set():
                try:
                    answer = stub.Predict(digits_request(pixels), timeout=10)
                except grpc.RpcError as error:
                    failures.append(f"{error.code()}: {error.details()}")
                    continue
                version = answer.model_spec.version.value
                classes = tf.make_ndarray(answer.outputs["classes"])
                if not np.array_equal(classes, expected[version]):
                    failures.append(f"version {version} answered {classes}")
                seen[index].add(version)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        time.sleep(0.5)
        install(built_models["digits_v2"], repo, "digits", 2)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all(2 in s for s in seen):
            time.sleep(0.1)
        time.sleep(0.5)  # keep the load on while version 1 drains and unloads
        stop.set()
        for thread in threads:
            thread.join()
        assert failures == []
        assert all(s >= {1, 2} for s in seen), seen

        status_stub = model_service_pb2_grpc.ModelServiceStub(channel)
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = "digits"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            states = {s.version: s.state for s in
                      status_stub.GetModelStatus(request, timeout=10).model_version_status}
            if states.get(1) == State.END:
                break
            time.sleep(0.1)
        assert states == {2: State.AVAILABLE, 1: State.END}
        channel.close()


def test_retired_version_unloads_only_after_its_last_handle(tmp_path, built_models):
    repo = str(tmp_path)
    install(built_models["digits"], repo, "digits", 1)
    manager = ServableManager(lambda spec, version, path: load_saved_model(spec.name, version,
                                                                            path))
    manager.set_specs([ModelSpec("digits", f"{repo}/digits")])
    manager.reconcile()
    handle = manager.handle("digits")
    with handle as servable:
        install(built_models["digits_v2"], repo, "digits", 2)
        manager.reconcile()
        with manager.handle("digits") as newest:
            assert newest.version == 2  # new requests go to v2 ...
        [old] = manager.version_states("digits", 1)
        assert old.state == State.UNLOADING  # ... while v1 is still pinned by this request
        answer = servable.signature("").run({"pixels": sample_pixels(2)})
        np.testing.assert_array_equal(answer["classes"], digits_reference(0, sample_pixels(2)))
    [old] = manager.version_states("digits", 1)
    assert old.state == State.END
    assert servable.signatures == {}


def test_a_broken_version_keeps_the_old_one_serving(tmp_path, built_models):
    repo = str(tmp_path)
    install(built_models["digits"], repo, "digits", 1)
    manager = ServableManager(lambda spec, version, path: load_saved_model(spec.name, version,
                                                                            path))
    manager.set_specs([ModelSpec("digits", f"{repo}/digits")])
    manager.reconcile()
    (tmp_path / "digits" / "2").mkdir()
    (tmp_path / "digits" / "2" / "saved_model.pb").write_bytes(b"not a model")
    manager.reconcile()
    with manager.handle("digits") as serving:
        assert serving.version == 1
    [broken] = manager.version_states("digits", 2)
    assert broken.state == State.END and broken.error is not None
