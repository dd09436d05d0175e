"""TF Serving's ModelServerConfig: several models, version policies, labels, live reloads."""

from __future__ import annotations

import subprocess
import sys
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from liveri.serve.config import parse_model_config_text, specs_from_config
from liveri.serve.server import ModelServer
from tensorflow_serving.apis import (
    get_model_status_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    prediction_service_pb2_grpc,
)

from liveri.errors import UsageError
from tests.serve.serve_helpers import digits_request, install, sample_pixels

CONFIG = """
model_config_list {
  config {
    name: "digits"
    base_path: "%(repo)s/digits"
    model_platform: "tensorflow"
    model_version_policy { specific { versions: 1 versions: 2 } }
    version_labels { key: "stable" value: 1 }
    version_labels { key: "canary" value: 2 }
  }
  config { name: "hp2" base_path: "%(repo)s/half_plus_two" }
}
"""


@pytest.fixture()
def repo(tmp_path, built_models):
    path = str(tmp_path / "repo")
    install(built_models["digits"], path, "digits", 1)
    install(built_models["digits_v2"], path, "digits", 2)
    install(built_models["digits"], path, "digits", 3)  # not in the specific policy
    install(built_models["half_plus_two"], path, "half_plus_two", 1)
    return path


def _versions(stub, name):
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = name
    return {s.version: s.state for s in stub.GetModelStatus(request, timeout=10)
            .model_version_status}


def test_config_file_policies_labels_and_reload(tmp_path, repo):
    config_file = tmp_path / "models.config"
    config_file.write_text(CONFIG % {"repo": repo})
    with ModelServer(model_config_file=str(config_file), port=0, rest_api_port=None,
                     metrics_port=None) as server:
        channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")
        models = model_service_pb2_grpc.ModelServiceStub(channel)
        predict = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        health = health_pb2_grpc.HealthStub(channel)

        def serving(name: str) -> bool:
            answer = health.Check(health_pb2.HealthCheckRequest(service=name), timeout=10)
            return answer.status == health_pb2.HealthCheckResponse.SERVING

        assert _versions(models, "digits") == {2: 30, 1: 30}
        assert serving("digits") and serving("hp2")
        for label, version in (("stable", 1), ("canary", 2)):
            answer = predict.Predict(digits_request(sample_pixels(1), version_label=label))
            assert answer.model_spec.version.value == version
        with pytest.raises(grpc.RpcError) as caught:
            predict.Predict(digits_request(sample_pixels(1), version_label="nope"))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT

        # HandleReloadConfigRequest: drop hp2, serve only the latest digits.
        request = model_management_pb2.ReloadConfigRequest()
        model = request.config.model_config_list.config.add()
        model.name, model.base_path = "digits", f"{repo}/digits"
        models.HandleReloadConfigRequest(request, timeout=60)
        assert _versions(models, "digits") == {3: 30, 2: 50, 1: 50}
        with pytest.raises(grpc.RpcError) as caught:
            _versions(models, "hp2")
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        assert serving("digits") and not serving("hp2")  # a dropped model is not SERVING

        model.base_path = f"{repo}/missing"
        with pytest.raises(grpc.RpcError) as caught:
            models.HandleReloadConfigRequest(request, timeout=60)
        assert "does not exist" in caught.value.details()
        assert predict.Predict(digits_request(sample_pixels(1))).model_spec.version.value == 3
        channel.close()


def test_config_file_poll_picks_up_changes(tmp_path, repo):
    config_file = tmp_path / "models.config"
    config_file.write_text(f'model_config_list {{ config {{ name: "a" base_path: "{repo}/digits" '
                           "} }")
    with ModelServer(model_config_file=str(config_file), port=0, rest_api_port=None,
                     metrics_port=None, model_config_file_poll_wait_seconds=0.2) as server:
        config_file.write_text(
            f'model_config_list {{ config {{ name: "b" base_path: "{repo}/digits" }} }}')
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and server.manager.model_names() != ["b"]:
            time.sleep(0.1)
        assert server.manager.model_names() == ["b"]


def test_bad_config_text_says_where():
    with pytest.raises(UsageError) as caught:
        parse_model_config_text('model_config_list {\n  config { nme: "x" }\n}', "m.config")
    message = str(caught.value)
    assert message.startswith("Error parsing text-format tensorflow.serving.ModelServerConfig")
    assert "m.config: 2:" in message


def test_cli_exits_2_on_a_bad_config_file(tmp_path):
    config_file = tmp_path / "bad.config"
    config_file.write_text("model_config_list { config { name: 3 ")
    code = ("import sys, argparse\n"
            "from liveri.errors import UsageError\n"
            "from liveri.serve import flags, main\n"
            "try:\n"
            "    sys.exit(main.serve_command(flags.parse_args(sys.argv[1:])))\n"
            "except UsageError as e:\n"
            "    print(e, file=sys.stderr); sys.exit(2)\n")
    done = subprocess.run([sys.executable, "-c", code, f"--model_config_file={config_file}",
                           "--port=0", "--rest_api_port=0", "--metrics_port=0"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "Error parsing text-format tensorflow.serving.ModelServerConfig" in done.stderr
    assert "1:" in done.stderr


def test_config_text_version_policies(tmp_path):
    text = """model_config_list {
      config { name: "newest2" base_path: "m" model_version_policy { latest { num_versions: 2 } } }
      config { name: "every" base_path: "/abs/m" model_version_policy { all {} } }
      config { name: "default" base_path: "m" }
    }"""
    specs = specs_from_config(parse_model_config_text(text, "models.config"), str(tmp_path))
    assert [(s.name, s.policy.kind, s.policy.num_versions) for s in specs] == [
        ("newest2", "latest", 2), ("every", "all", 1), ("default", "latest", 1)]
    assert specs[0].base_path == str(tmp_path / "m") and specs[1].base_path == "/abs/m"


def test_config_file_poll_wait_0_never_rereads_the_file(tmp_path, repo):
    config_file = tmp_path / "models.config"
    config_file.write_text(f'model_config_list {{ config {{ name: "a" base_path: "{repo}/digits" '
                           "} }")
    with ModelServer(model_config_file=str(config_file), port=0, rest_api_port=None,
                     metrics_port=None, model_config_file_poll_wait_seconds=0,
                     file_system_poll_wait_seconds=0.1) as server:
        config_file.write_text(
            f'model_config_list {{ config {{ name: "b" base_path: "{repo}/digits" }} }}')
        time.sleep(1.0)  # ten file-system polls
        assert server.manager.model_names() == ["a"]


def _rest(port: int, path: str, body: dict | None = None) -> tuple[int, dict]:
    import json
    import urllib.error
    import urllib.request

    data = None if body is None else json.dumps(body).encode()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", data, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_version_labels_over_rest_grpc_status_and_reload(tmp_path, repo):
    config_file = tmp_path / "models.config"
    config_file.write_text(CONFIG % {"repo": repo})
    with ModelServer(model_config_file=str(config_file), port=0, rest_api_port=0,
                     metrics_port=None) as server:
        port = server.rest_port
        status, body = _rest(port, "/v1/models/digits/labels/canary")
        assert status == 200 and [v["version"] for v in body["model_version_status"]] == ["2"]
        status, body = _rest(port, "/v1/models/digits/labels/stable/metadata")
        assert status == 200 and body["model_spec"]["version"] == "1"
        status, body = _rest(port, "/v1/models/digits/labels/canary:predict",
                             {"instances": sample_pixels(1).tolist()})
        assert status == 200 and len(body["predictions"]) == 1
        status, body = _rest(port, "/v1/models/digits/labels/nope:predict",
                             {"instances": sample_pixels(1).tolist()})
        assert status == 400 and "nope" in body["error"]

        channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")
        models = model_service_pb2_grpc.ModelServiceStub(channel)
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name, request.model_spec.version_label = "digits", "stable"
        assert [s.version for s in models.GetModelStatus(request, timeout=10)
                .model_version_status] == [1]

        # A label naming a version the policy does not load is refused; old labels stay.
        reload = model_management_pb2.ReloadConfigRequest()
        reload.config.CopyFrom(parse_model_config_text(CONFIG % {"repo": repo}))
        reload.config.model_config_list.config[0].version_labels["canary"] = 3
        with pytest.raises(grpc.RpcError) as caught:
            models.HandleReloadConfigRequest(reload, timeout=60)
        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "version 3 of model digits" in caught.value.details()
        status, body = _rest(port, "/v1/models/digits/labels/canary/metadata")
        assert status == 200 and body["model_spec"]["version"] == "2"
        channel.close()


@pytest.mark.parametrize("allow", [False, True])
def test_a_new_label_for_an_unloaded_version_needs_the_allow_flag(tmp_path, repo, allow):
    config_file = tmp_path / "models.config"
    config_file.write_text((CONFIG % {"repo": repo}).replace(
        'key: "canary" value: 2', 'key: "canary" value: 3'))
    server = ModelServer(model_config_file=str(config_file), port=0, rest_api_port=0,
                         metrics_port=None, allow_version_labels_for_unavailable_models=allow)
    if not allow:
        with pytest.raises(UsageError, match="version 3 of model digits, which is not currently"):
            server.start()
        return
    with server:
        status, body = _rest(server.rest_port, "/v1/models/digits/labels/stable/metadata")
        assert status == 200 and body["model_spec"]["version"] == "1"
        status, body = _rest(server.rest_port, "/v1/models/digits/labels/canary:predict",
                             {"instances": sample_pixels(1).tolist()})
        assert status == 404  # labelled, but version 3 is not loaded
