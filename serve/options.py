"""The server's options in one place: TF Serving's flags as `liveri serve` parses them, and the
values the server derives from them (timeouts in seconds, worker counts, parsed files)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from liveri.serve import config as config_lib
from liveri.serve import loaders, request_log

from liveri.errors import UsageError

GRPC_WORKERS = 64


@dataclass
class ServerOptions:
    """Every knob of a ModelServer; the defaults are TF Serving's where it has the flag.

    Port 0 picks a free port; None disables the REST or metrics port (the CLI's 0)."""

    model_repo: str | None = None
    model_config_file: str | None = None
    model_config: Any = None  # a ModelServerConfig proto
    model_name: str | None = None
    model_base_path: str | None = None
    host: str = "127.0.0.1"
    port: int | None = 8500
    rest_api_port: int | None = 8501
    metrics_port: int | None = 8502
    enable_batching: bool = False
    batching_parameters_file: str | None = None
    file_system_poll_wait_seconds: float = 1.0
    model_config_file_poll_wait_seconds: float = 0.0
    grpc_socket_path: str | None = None
    grpc_channel_arguments: str = ""
    monitoring_config_file: str | None = None
    prefer_tflite_model: bool = False
    enable_signature_method_name_check: bool = False
    allow_version_labels_for_unavailable_models: bool = False
    ssl_config_file: str | None = None
    rest_api_timeout_in_ms: int = 30000
    rest_api_num_threads: int = 0
    grpc_workers: int = GRPC_WORKERS
    tensorflow_intra_op_parallelism: int = 0
    tensorflow_inter_op_parallelism: int = 0
    liveri_backend: str = loaders.TENSORFLOW
    request_log_max_file_bytes: int = request_log.DEFAULT_FILE_BYTES
    request_log_max_total_bytes: int = request_log.DEFAULT_TOTAL_BYTES
    # Derived in __post_init__:
    channel_args: list[tuple[str, Any]] = field(init=False)
    monitoring: config_lib.MonitoringConfig = field(init=False)
    ssl_credentials: Any = field(init=False)  # grpc.ServerCredentials, or None: plaintext

    def __post_init__(self) -> None:
        self.enable_batching = self.enable_batching or bool(self.batching_parameters_file)
        self.channel_args = parse_channel_arguments(self.grpc_channel_arguments)
        self.monitoring = (config_lib.read_monitoring_config(self.monitoring_config_file)
                           if self.monitoring_config_file else config_lib.MonitoringConfig())
        self.ssl_credentials = (config_lib.read_ssl_config(self.ssl_config_file)
                                if self.ssl_config_file else None)
        if self.liveri_backend not in loaders.BACKENDS:
            raise UsageError(f"--liveri_backend: expected tensorflow (the SavedModel) or auto "
                             f"(the fastest artifact within parity), got {self.liveri_backend!r}")
        for name in ("request_log_max_file_bytes", "request_log_max_total_bytes"):
            if getattr(self, name) <= 0:
                raise UsageError(f"--{name}: expected a positive number of bytes, "
                                 f"got {getattr(self, name)}")

    @property
    def rest_timeout(self) -> float | None:
        """Seconds a REST request may take, from its arrival; None: no limit."""
        return self.rest_api_timeout_in_ms / 1000 if self.rest_api_timeout_in_ms > 0 else None

    @property
    def rest_workers(self) -> int:
        """TF Serving's default: four REST workers per core this process may use."""
        return self.rest_api_num_threads or 4 * len(os.sched_getaffinity(0))

    def source(self) -> config_lib.ModelSource:
        return config_lib.ModelSource(self.model_repo, self.model_config_file, self.model_config,
                                      self.model_name, self.model_base_path)


def parse_channel_arguments(text: str) -> list[tuple[str, Any]]:
    """`--grpc_channel_arguments` ("key=value,key=value") as gRPC options, ints where numeric."""
    options: list[tuple[str, Any]] = []
    for item in filter(None, (part.strip() for part in (text or "").split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--grpc_channel_arguments: expected key=value, got {item!r}")
        options.append((key.strip(), int(value) if value.strip().lstrip("-").isdigit()
                        else value.strip()))
    return options
