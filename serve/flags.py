"""`liveri serve` flags: the contract's and `tensorflow_model_server`'s, same names and meaning.

Wiring for the CLI:

    p = subparsers.add_parser("serve")
    flags.add_arguments(p)
    args, unknown = parser.parse_known_args(argv)   # or flags.split_unknown(...)
    flags.warn_unknown(unknown)                     # TF Serving flags we do not implement

`warn_unknown` prints one warning per unknown `--flag` and never fails, so deployment scripts
written for TF Serving start unchanged. Alternatively `parse_args(argv)` does both in one call.
"""

from __future__ import annotations

import argparse
import sys


def _bool(text: str) -> bool:
    """TF Serving's boolean flag values (`--enable_batching=true`)."""
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "t", "y"):
        return True
    if lowered in ("0", "false", "no", "f", "n"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add every serve flag to `parser`."""
    models = parser.add_argument_group("models")
    models.add_argument("--model_repo", help="model repository: REPO/MODEL/VERSION/saved_model.pb; "
                        "every model folder is served")
    models.add_argument("--model_config_file", help="TF Serving ModelServerConfig text proto")
    models.add_argument("--model_config_file_poll_wait_seconds", type=float, default=0.0,
                        help="re-read --model_config_file this often (0: never)")
    models.add_argument("--model_name", default="default",
                        help="model name with --model_base_path (TF Serving's single-model form)")
    models.add_argument("--model_base_path", help="folder holding the model's version folders")
    models.add_argument("--file_system_poll_wait_seconds", type=float, default=1.0,
                        help="look for new versions this often (0: only at start)")
    models.add_argument("--prefer_tflite_model", type=_bool, nargs="?", const=True, default=False,
                        help="serve a version's TFLite model (model.tflite) through LiteRT")

    models.add_argument("--enable_signature_method_name_check", type=_bool, nargs="?",
                        const=True, default=False,
                        help="Classify, Regress and MultiInference run only signatures whose "
                             "method_name says so (TF Serving's default: off, any signature "
                             "of the right shape, as Keras and tf.saved_model.save write)")
    models.add_argument("--liveri_backend", choices=("tensorflow", "auto"), default="tensorflow",
                        help="auto: answer each Liveri version's serving_default from its "
                             "fastest artifact (SavedModel, TFLite, ONNX) timed at load, among "
                             "those within parity and the release budgets")
    models.add_argument("--allow_version_labels_for_unavailable_models", type=_bool,
                        nargs="?", const=True, default=False,
                        help="a new version label may name a version not loaded (yet)")
    net = parser.add_argument_group("network")
    net.add_argument("--host", default="127.0.0.1",
                     help="address to bind (default 127.0.0.1; 0.0.0.0 for every interface)")
    net.add_argument("--port", type=int, default=8500, help="gRPC port")
    net.add_argument("--grpc_socket_path", help="also serve gRPC on this Unix socket")
    net.add_argument("--ssl_config_file",
                     help="TF Serving SSLConfig text proto: serve gRPC over TLS (server_key, "
                          "server_cert, custom_ca, client_verify)")
    net.add_argument("--grpc_channel_arguments", default="",
                     help="gRPC server options as key=value,key=value")
    net.add_argument("--rest_api_port", "--rest_port", dest="rest_api_port", type=int,
                     default=8501, help="REST port (0 disables REST)")
    net.add_argument("--rest_api_timeout_in_ms", type=int, default=30000,
                     help="REST request timeout in milliseconds")
    net.add_argument("--rest_api_num_threads", type=int, default=0,
                     help="REST requests handled at once; more wait their turn (0: 4 per core)")
    net.add_argument("--metrics_port", type=int, default=8502,
                     help="Prometheus /metrics port (0 disables)")
    net.add_argument("--monitoring_config_file",
                     help="TF Serving MonitoringConfig: prometheus_config on the REST port")

    logs = parser.add_argument_group("request logging (a model's logging_config)")
    logs.add_argument("--request_log_max_file_bytes", type=int,
                      help="start a new log file once one holds this many bytes (default 64 MiB)")
    logs.add_argument("--request_log_max_total_bytes", type=int,
                      help="delete a model's oldest log files beyond this many bytes "
                           "(default 1 GiB)")

    batching = parser.add_argument_group("batching")
    batching.add_argument("--enable_batching", type=_bool, nargs="?", const=True, default=False,
                          help="batch concurrent requests into one model call")
    batching.add_argument("--batching_parameters_file",
                          help="TF Serving BatchingParameters text proto (re-read at each "
                          "--file_system_poll_wait_seconds poll; a change applies without restart)")

    tf = parser.add_argument_group("tensorflow")
    tf.add_argument("--tensorflow_intra_op_parallelism", type=int, default=0,
                    help="threads one TensorFlow op may use (0: TensorFlow's choice)")
    tf.add_argument("--tensorflow_inter_op_parallelism", type=int, default=0,
                    help="threads a model's independent ops may run on at once (0: none: each "
                    "request's ops run in its own thread, one after another, with no hand-off)")


def warn_unknown(unknown: list[str]) -> None:
    """Warn once per flag we do not implement; TF Serving scripts must still start."""
    for item in unknown:
        if item.startswith("-"):
            name = item.split("=", 1)[0]
            print(f"liveri serve: warning: ignoring unsupported flag {name}", file=sys.stderr)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse serve flags alone (unknown flags warned about, not fatal)."""
    parser = argparse.ArgumentParser(prog="liveri serve")
    add_arguments(parser)
    args, unknown = parser.parse_known_args(argv)
    warn_unknown(unknown)
    return args
