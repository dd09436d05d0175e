"""`liveri serve`: run the model server in the foreground until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from liveri.errors import UsageError


def server_from_args(args: argparse.Namespace):  # -> ModelServer (import is deferred)
    """A ModelServer configured from parsed `flags.add_arguments` flags (CLI 0 = disabled)."""
    from liveri.serve.server import ModelServer

    if args.model_config_file and (args.model_base_path or args.model_repo):
        raise UsageError("--model_config_file cannot be combined with --model_repo or "
                         "--model_base_path; pass one source of models")
    if not (args.model_repo or args.model_config_file or args.model_base_path):
        raise UsageError("liveri serve needs models: --model_repo REPO, --model_config_file FILE, "
                         "or --model_name NAME --model_base_path PATH")
    return ModelServer(
        model_repo=None if args.model_base_path else args.model_repo,
        model_config_file=args.model_config_file,
        model_name=args.model_name,
        model_base_path=args.model_base_path,
        host=args.host,
        port=args.port,
        rest_api_port=args.rest_api_port or None,
        metrics_port=args.metrics_port or None,
        enable_batching=args.enable_batching,
        batching_parameters_file=args.batching_parameters_file,
        file_system_poll_wait_seconds=args.file_system_poll_wait_seconds,
        model_config_file_poll_wait_seconds=args.model_config_file_poll_wait_seconds,
        grpc_socket_path=args.grpc_socket_path,
        ssl_config_file=args.ssl_config_file,
        grpc_channel_arguments=args.grpc_channel_arguments,
        monitoring_config_file=args.monitoring_config_file,
        prefer_tflite_model=args.prefer_tflite_model,
        enable_signature_method_name_check=args.enable_signature_method_name_check,
        allow_version_labels_for_unavailable_models=(
            args.allow_version_labels_for_unavailable_models),
        rest_api_timeout_in_ms=args.rest_api_timeout_in_ms,
        rest_api_num_threads=args.rest_api_num_threads,
        tensorflow_intra_op_parallelism=args.tensorflow_intra_op_parallelism,
        tensorflow_inter_op_parallelism=args.tensorflow_inter_op_parallelism,
        liveri_backend=args.liveri_backend,
        **{name: getattr(args, name) for name in ("request_log_max_file_bytes",
                                                  "request_log_max_total_bytes")
           if getattr(args, name) is not None},  # unset: ServerOptions' defaults
    )


def serve_command(args: argparse.Namespace) -> int:
    """Serve until SIGTERM/SIGINT, then finish in-flight requests and return 0.

    Bad flags, no models or an unparsable config raise UsageError (the CLI's exit 2).
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                        stream=sys.stderr)
    server = server_from_args(args)
    server.start()
    print(f"liveri serve: gRPC on {args.host}:{server.grpc_port}"
          + (f", REST on port {server.rest_port}" if server.rest_port else "")
          + (f", metrics on port {server.metrics_port}" if server.metrics_port else ""),
          file=sys.stderr, flush=True)
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        while not stop.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.stop()
    print("liveri serve: stopped", file=sys.stderr, flush=True)
    return 0
