"""`liveri run`: train -> evaluate -> export -> bundle -> serve -> bench -> release -> report.

Each stage prints a one-line status with its time; a stage that fails on bad input stops the run
with exit 2 naming the stage and what to do; the exit code is otherwise the release gate's.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from liveri.train.registry import experiment_params

from liveri import layout
from liveri.artifact import manifest as manifest_lib
from liveri.errors import CheckFailed, UsageError


class StageFailed(UsageError):
    """A stage of `liveri run` could not run; the message names it."""


def _stage(name: str, fn: Callable[[], Any]) -> Any:
    print(f"[run] {name} ...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    try:
        result = fn()
    except CheckFailed:
        raise
    except UsageError as e:
        raise StageFailed(f"stage '{name}' failed: {e}") from None
    except (ImportError, OSError, RuntimeError) as e:
        raise StageFailed(f"stage '{name}' failed: {type(e).__name__}: {e}\n"
                          "re-run the README's setup command (bash scripts/setup.sh) and check "
                          "the message above") from None
    print(f"[run] {name} done in {time.perf_counter() - start:.1f}s", file=sys.stderr,
          flush=True)
    return result


def run_command(args: argparse.Namespace) -> int:
    experiment = args.experiment
    params = experiment_params(experiment, args.set)
    name = layout.default_model_name(experiment)
    workdir = Path(args.workdir).resolve()
    logdir = workdir / "logs" / name
    repo = workdir / "models"
    bundle_path = workdir / "bundles" / f"{name}.zip"
    bench_dir = workdir / "bench"
    started = time.perf_counter()

    def train() -> dict[str, Any]:
        from liveri.train.trainer import Trainer

        return Trainer(params, logdir).Train()

    metrics = _stage("train + evaluate", train)

    def export() -> Path:
        from liveri.export.exporter import export as export_version
        from liveri.export.exporter import parse_formats

        return export_version(params, logdir, repo, name, parse_formats(None, params.export.formats))

    version_dir = _stage("export", export)
    version = int(version_dir.name)

    def bundle() -> Path:
        from liveri.mobile.bundler import make_bundle

        return make_bundle(repo, name, version, out=bundle_path)

    _stage("bundle", bundle)

    from liveri.serve.server import ModelServer

    server = ModelServer(model_repo=str(repo), port=0, rest_api_port=0, metrics_port=0)
    _stage("serve (load and warm up)", server.start)
    try:
        answers = _stage("query the server with the stock client",
                         lambda: _query_server(server.grpc_port, name, version_dir))
    finally:
        server.stop()

    def bench() -> int:
        # The bench starts its own server in a child process, so load generator and server
        # do not share one Python interpreter.
        from liveri.benchmarks.main import add_bench_arguments, bench_command

        parser = argparse.ArgumentParser()
        add_bench_arguments(parser)
        bench_args = parser.parse_args(
            ["--model_repo", str(repo), "--name", name, "--version", str(version),
             "--out", str(bench_dir)])
        return bench_command(bench_args)

    _stage("bench", bench)

    def release() -> int:
        from liveri.benchmarks.main import add_release_arguments, release_command

        parser = argparse.ArgumentParser()
        add_release_arguments(parser)
        release_args = parser.parse_args(
            ["-e", experiment, "--logdir", str(logdir), "--model_repo", str(repo), "--name", name]
            + [x for item in args.set for x in ("--set", item)])
        try:
            return release_command(release_args)
        except CheckFailed as e:
            print(str(e), file=sys.stderr)
            return 1

    verdict_code = _stage("release gate", release)

    from liveri.cli.report import write_report

    report = _stage("report", lambda: write_report(
        workdir=workdir, experiment=experiment, name=name, logdir=logdir, repo=repo,
        version_dir=version_dir, bundle_path=bundle_path, bench_dir=bench_dir,
        train_metrics=metrics, server_answers=answers))
    _print_summary(version_dir, bench_dir, report, verdict_code, time.perf_counter() - started)
    return verdict_code


def _query_server(port: int, name: str, version_dir: Path) -> dict[str, Any]:
    """Replay the version's warmup requests (real held-out examples) through the stock TF
    Serving client and check every answer equals the SavedModel's own, in-process."""
    import grpc
    import numpy as np
    import tensorflow as tf
    from tensorflow_serving.apis import (
        get_model_status_pb2,
        model_service_pb2_grpc,
        prediction_log_pb2,
        prediction_service_pb2_grpc,
    )

    signature = tf.saved_model.load(str(version_dir)).signatures["serving_default"]
    warmup = version_dir / layout.WARMUP_FILE
    requests = []
    for record in tf.data.TFRecordDataset(str(warmup)):
        log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
        requests.append(log.predict_log.request)
    if not requests:
        raise RuntimeError(f"{warmup} holds no requests to query the server with")
    mismatches = []
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        for request in requests:
            request.model_spec.name = name
            response = stub.Predict(request, timeout=30)
            inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
            expected = signature(**{k: tf.constant(v) for k, v in inputs.items()})
            for key, want in expected.items():
                got = tf.make_ndarray(response.outputs[key])
                want = want.numpy()
                same = (np.array_equal(got, want) if want.dtype.kind in "OSUb"
                        else np.allclose(got, want, atol=1e-5))
                if not same:
                    mismatches.append(key)
        status = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(
            get_model_status_pb2.GetModelStatusRequest(model_spec=requests[0].model_spec),
            timeout=30)
    state = get_model_status_pb2.ModelVersionStatus.State.Name(status.model_version_status[0].state)
    if state != "AVAILABLE":
        raise RuntimeError(f"served model status is {state}, expected AVAILABLE")
    if mismatches:
        raise RuntimeError(f"served answers differ from the SavedModel's in {sorted(set(mismatches))}")
    return {"requests": len(requests), "status": state, "equal_to_saved_model": True,
            "served_version": int(response.model_spec.version.value)}


def _print_summary(version_dir: Path, bench_dir: Path, report: Path, code: int,
                   seconds: float) -> None:
    manifest = manifest_lib.load(version_dir)
    verdict = manifest.gate.get("verdict", "unknown")
    print()
    print(f"Verdict: {verdict.upper()} ({manifest.experiment} version {manifest.version}, "
          f"{seconds:.0f}s)")
    metric = manifest.main_metric
    bench = _load_json(bench_dir / "bench.json")
    p99 = _p99_by_artifact(bench)
    print(f"{'artifact':<16}{metric:>10}{'p99 ms (batch 1)':>18}")
    for fmt, m in manifest.metrics.items():
        lat = p99.get(fmt)
        print(f"{fmt:<16}{m[metric]:>10.4f}{(f'{lat:.3f}' if lat is not None else '-'):>18}")
    qps = _server_qps(bench)
    if qps is not None:
        print(f"server: {qps:.0f} queries/s at the best concurrency")
    print(f"report: {report}")
    if code:
        print("missed budgets are listed above (exit 1)")


def _load_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


def _p99_by_artifact(bench: dict[str, Any]) -> dict[str, float]:
    """p99 (ms) of each artifact at batch 1, one thread where threads apply."""
    out: dict[str, float] = {}
    for run in bench.get("artifacts", []):
        if run.get("batch_size") == 1 and run.get("threads") in (None, 1):
            out.setdefault(run["format"], run["p99_ms"])
    return out


def _server_qps(bench: dict[str, Any]) -> float | None:
    sweep = (bench.get("server") or {}).get("concurrency") or []
    rates = [row.get("throughput", 0.0) for row in sweep if not row.get("errors")]
    return max(rates) if rates else None
