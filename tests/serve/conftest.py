"""Fixtures: real SavedModels built once per session, and a real server on free local ports."""

from __future__ import annotations

import grpc
import pytest
from liveri.serve.server import ModelServer
from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

from tests.serve.serve_helpers import build_digits, build_half_plus_two, install


@pytest.fixture(scope="session")
def built_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Each test model built once; tests copy them into their own repositories."""
    root = tmp_path_factory.mktemp("built")
    return {
        "half_plus_two": build_half_plus_two(str(root / "half_plus_two")),
        "digits": build_digits(str(root / "digits")),
        "digits_v2": build_digits(str(root / "digits_v2"), seed=1),
    }


@pytest.fixture(scope="session")
def model_repo(tmp_path_factory: pytest.TempPathFactory, built_models: dict[str, str]) -> str:
    repo = str(tmp_path_factory.mktemp("repo"))
    install(built_models["half_plus_two"], repo, "half_plus_two", "00000123")
    install(built_models["digits"], repo, "digits", 1)
    return repo


@pytest.fixture(scope="session")
def server(model_repo: str):
    """One shared server over the session repository (tests must not change that repository)."""
    with ModelServer(model_repo=model_repo, port=0, rest_api_port=0, metrics_port=0) as running:
        yield running


@pytest.fixture(scope="session")
def channel(server: ModelServer):
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as open_channel:
        yield open_channel


@pytest.fixture()
def predict_stub(channel: grpc.Channel) -> prediction_service_pb2_grpc.PredictionServiceStub:
    return prediction_service_pb2_grpc.PredictionServiceStub(channel)


@pytest.fixture()
def model_stub(channel: grpc.Channel) -> model_service_pb2_grpc.ModelServiceStub:
    return model_service_pb2_grpc.ModelServiceStub(channel)


