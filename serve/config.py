"""Model server configuration: TF Serving's ModelServerConfig and MonitoringConfig text protos.

Turns `--model_config_file`, `--model_name/--model_base_path` or `--model_repo` into the list of
`ModelSpec`s the manager serves. A model's `model_platform` picks its backend: "tensorflow" (the
SavedModel, the default) or a Liveri artifact ("tflite", "onnx", "tflite_int8", ...: artifacts.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from google.protobuf import text_format
from liveri.serve.request_log import settings_from_config
from liveri.serve.source import ModelSpec, VersionPolicy, repo_specs
from tensorflow_serving.config import model_server_config_pb2

from liveri.errors import UsageError


def parse_model_config_text(text: str, origin: str = "<text>"
                            ) -> model_server_config_pb2.ModelServerConfig:
    """Parse a ModelServerConfig, or UsageError in TF Serving's words with line and column."""
    config = model_server_config_pb2.ModelServerConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as exc:
        raise UsageError(
            f"Error parsing text-format tensorflow.serving.ModelServerConfig: {origin}: {exc}"
        ) from None
    return config


def read_model_config_file(path: str) -> model_server_config_pb2.ModelServerConfig:
    """The ModelServerConfig in `path` (UsageError when missing or unparsable)."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError as exc:
        raise UsageError(f"--model_config_file: cannot read {path}: {exc.strerror}") from None
    return parse_model_config_text(text, path)


def specs_from_config(config: model_server_config_pb2.ModelServerConfig,
                      relative_to: str = "") -> list[ModelSpec]:
    """One ModelSpec per `model_config_list` entry; UsageError on what TF Serving also refuses."""
    if config.WhichOneof("config") == "custom_model_config":
        raise UsageError("custom_model_config is not supported; use model_config_list")
    specs = []
    names = set()
    for model in config.model_config_list.config:
        if not model.name:
            raise UsageError("ModelServerConfig: every model config needs a name")
        if model.name in names:
            raise UsageError(f"ModelServerConfig: model name {model.name} is listed twice")
        if not model.base_path:
            raise UsageError(f"ModelServerConfig: model {model.name} has no base_path")
        names.add(model.name)
        base_path = model.base_path
        if relative_to and not os.path.isabs(base_path):
            base_path = os.path.join(relative_to, base_path)
        policy_proto = model.model_version_policy
        kind = policy_proto.WhichOneof("policy_choice")
        if kind == "all":
            policy = VersionPolicy("all")
        elif kind == "specific":
            policy = VersionPolicy("specific", versions=tuple(policy_proto.specific.versions))
        else:
            policy = VersionPolicy("latest", num_versions=policy_proto.latest.num_versions or 1)
        specs.append(ModelSpec(model.name, base_path, policy, dict(model.version_labels),
                               model.model_platform or "tensorflow",
                               settings_from_config(model)))
    return specs


def single_model_config(name: str, base_path: str) -> model_server_config_pb2.ModelServerConfig:
    """TF Serving's `--model_name/--model_base_path` form as a one-model config."""
    config = model_server_config_pb2.ModelServerConfig()
    model = config.model_config_list.config.add()
    model.name = name
    model.base_path = base_path
    model.model_platform = "tensorflow"
    return config


def repo_config(model_repo: str) -> model_server_config_pb2.ModelServerConfig:
    """Every model folder of a repository, each serving its newest version."""
    config = model_server_config_pb2.ModelServerConfig()
    config.model_config_list.SetInParent()
    for spec in repo_specs(model_repo):
        model = config.model_config_list.config.add()
        model.name = spec.name
        model.base_path = spec.base_path
        model.model_platform = "tensorflow"
    return config


@dataclass(frozen=True)
class MonitoringConfig:
    """TF Serving's MonitoringConfig: whether and where the REST port shows Prometheus text."""

    prometheus_enabled: bool = False
    prometheus_path: str = "/monitoring/prometheus/metrics"


def _read_text_proto(path: str, flag: str, proto: Any) -> Any:
    """`proto` parsed from the text file `path` given by `flag`; UsageError worded as TF
    Serving words it (the message type, line and column)."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError as exc:
        raise UsageError(f"{flag}: cannot read {path}: {exc.strerror}") from None
    try:
        text_format.Parse(text, proto)
    except text_format.ParseError as exc:
        raise UsageError(f"Error parsing text-format {proto.DESCRIPTOR.full_name}: {path}: "
                         f"{exc}") from None
    return proto


def read_monitoring_config(path: str) -> MonitoringConfig:
    """Parse `prometheus_config { enable: true path: "..." }` (MonitoringConfig text proto)."""
    from liveri.serve.protos import MonitoringConfigProto

    proto = _read_text_proto(path, "--monitoring_config_file", MonitoringConfigProto())
    prometheus = proto.prometheus_config
    return MonitoringConfig(prometheus.enable,
                            prometheus.path or MonitoringConfig.prometheus_path)


def read_ssl_config(path: str) -> Any:
    """gRPC server credentials from TF Serving's SSLConfig text proto (`server_key`,
    `server_cert` and `custom_ca` as PEM text; `client_verify` asks clients for a certificate
    signed by `custom_ca`)."""
    import grpc
    from liveri.serve.protos import SSLConfigProto

    proto = _read_text_proto(path, "--ssl_config_file", SSLConfigProto())
    if not (proto.server_key and proto.server_cert):
        raise UsageError(f"--ssl_config_file {path}: server_key and server_cert (PEM) are needed")
    if proto.client_verify and not proto.custom_ca:
        raise UsageError(f"--ssl_config_file {path}: client_verify needs custom_ca (PEM)")
    return grpc.ssl_server_credentials(
        [(proto.server_key.encode(), proto.server_cert.encode())],
        root_certificates=proto.custom_ca.encode() or None,
        require_client_auth=proto.client_verify)


class ModelSource:
    """Where the served models are declared, and how that declaration changes while serving: a
    ModelServerConfig (given, or in `--model_config_file`, re-read every
    `--model_config_file_poll_wait_seconds`), one model (`--model_name/--model_base_path`), or
    every model folder of `--model_repo` (re-scanned at each file-system poll)."""

    def __init__(self, model_repo: str | None = None, model_config_file: str | None = None,
                 model_config: model_server_config_pb2.ModelServerConfig | None = None,
                 model_name: str | None = None, model_base_path: str | None = None) -> None:
        self.model_repo = model_repo
        self.config_file = model_config_file
        self.config = model_config
        self.model_name = model_name
        self.base_path = model_base_path
        self._config_text: str | None = None

    def specs(self) -> list[ModelSpec]:
        """The models to serve now; UsageError when no source was given or it is unusable."""
        if self.config is not None:
            return specs_from_config(self.config)
        if self.config_file:
            return specs_from_config(read_model_config_file(self.config_file),
                                     os.path.dirname(os.path.abspath(self.config_file)))
        if self.base_path:
            return specs_from_config(single_model_config(self.model_name or "default",
                                                         self.base_path))
        if self.model_repo:
            if not os.path.isdir(self.model_repo):
                raise UsageError(f"--model_repo {self.model_repo} is not a directory; expected "
                                 "REPO/MODEL/VERSION/saved_model.pb")
            return specs_from_config(repo_config(self.model_repo))
        raise UsageError("no models to serve: pass --model_repo REPO, --model_config_file FILE "
                         "or --model_name NAME --model_base_path PATH")

    @property
    def rescans_repo(self) -> bool:
        """Whether new model folders are looked for at each file-system poll."""
        return bool(self.model_repo) and self.config is None and not self.config_file \
            and not self.base_path

    def replace(self, config: model_server_config_pb2.ModelServerConfig) -> list[ModelSpec]:
        """Serve `config` from now on (HandleReloadConfigRequest); its specs, each checked."""
        specs = specs_from_config(config)
        for spec in specs:
            if not os.path.isdir(spec.base_path):
                raise UsageError(f"model {spec.name}: base_path {spec.base_path} does not exist")
        self.config = config
        return specs

    def changed_config(self) -> list[ModelSpec] | None:
        """The specs of `--model_config_file` when its text changed since the last call."""
        with open(self.config_file) as f:  # type: ignore[arg-type]
            text = f.read()
        if text == self._config_text:
            return None
        self._config_text = text
        proto = parse_model_config_text(text, self.config_file or "")
        return specs_from_config(proto, os.path.dirname(os.path.abspath(self.config_file or "")))
