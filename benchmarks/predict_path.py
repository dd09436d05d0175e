"""The server's own CPU per Predict request, without gRPC: what a change to `serve/` saves.

Throughput against an echo (`serve_overhead`) moves by tens of percent from round to round on a
small shared machine, far more than most changes to the Predict path. This measures that path
alone: 32 coroutines on one event loop call the servicer's Predict, as gRPC's handler would,
with the model server's dispatch, checks, batching (on: the real model on a batch thread),
metrics and answer bytes, and no sockets. The figure is the process's CPU time (every thread,
TensorFlow's too) per answered request.

    python -m liveri.benchmarks.predict_path --model_repo REPO --name MODEL \
        [--baseline_serve OTHER_CHECKOUT/serve]

Each build runs in a process of its own; rounds alternate between builds (in reverse every
other round), and each figure is the median over rounds, printed with its range. With a
baseline, the ratio within each round gives the change.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop
from liveri.benchmarks.serve_overhead import (
    IN_FLIGHT,
    _batching_file,
    _set_tf_threads,
    _single_model_repo,
    _use_serve_dir,
    example_inputs,
    newest_version,
    predict_request_bytes,
    start_model_server,
)


class _Context:
    """What Predict asks of gRPC's ServicerContext: no deadline; an abort is a failure here."""

    def time_remaining(self) -> None:
        return None

    async def abort(self, code: Any, details: str) -> None:
        raise RuntimeError(f"Predict failed: {code}: {details}")


def _measure(servicer: Any, request_bytes: bytes, seconds: float, in_flight: int
             ) -> tuple[int, float]:
    """(answers, CPU seconds of the whole process) for `in_flight` coroutines over `seconds`."""
    from tensorflow_serving.apis import predict_pb2

    context = _Context()

    async def run() -> tuple[int, float]:
        answered = [0]
        stop_at = time.perf_counter() + seconds

        async def client() -> None:
            while time.perf_counter() < stop_at:
                request = predict_pb2.PredictRequest.FromString(request_bytes)
                answer = await servicer.Predict(request, context)
                if type(answer) is not bytes:  # the older builds answer messages
                    answer.SerializeToString()
                answered[0] += 1

        started = time.process_time()
        await asyncio.gather(*(client() for _ in range(in_flight)))
        return answered[0], time.process_time() - started

    return uvloop.run(run())  # the loop `liveri serve` runs grpc.aio on


def _build_process(plan: dict[str, Any], conn: Any) -> None:
    """Child: load one build's server, then answer each measure command the parent sends."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        _set_tf_threads(*plan["tf_threads"])
        if plan.get("serve_dir"):
            _use_serve_dir(plan["serve_dir"])
        from liveri.serve.grpc_service import PredictionServicer

        server = start_model_server(plan["model_repo"], "127.0.0.1", plan["batching_file"])
        servicer = PredictionServicer(server._dispatcher, server._executor)
        _measure(servicer, plan["request"], plan["warmup_s"], plan["in_flight"])
        conn.send("ready")
    except BaseException as exc:  # the parent must hear why, not hang
        conn.send({"error": f"{type(exc).__name__}: {exc}"})
        raise
    while (command := conn.recv()) is not None:
        conn.send(_measure(servicer, plan["request"], command, plan["in_flight"]))
    server.stop()


def run(args: argparse.Namespace) -> dict[str, Any]:
    version_dir = newest_version(args.model_repo, args.name)
    work = tempfile.mkdtemp(prefix="liveri-predict-path-")
    plan = {"model_repo": _single_model_repo(work, version_dir, args.name),
            "batching_file": _batching_file(work, "model", args.max_batch_size,
                                            args.batch_timeout_micros, 1),
            "request": predict_request_bytes(args.name, example_inputs(version_dir)),
            "tf_threads": (1, 0), "in_flight": IN_FLIGHT, "warmup_s": args.warmup_s}
    builds = {"server": dict(plan)}
    if args.baseline_serve:
        builds["baseline"] = {**plan, "serve_dir": os.path.abspath(args.baseline_serve)}
    context = multiprocessing.get_context("spawn")
    children = {}
    for build, build_plan in builds.items():
        mine, theirs = context.Pipe()
        process = context.Process(target=_build_process, args=(build_plan, theirs), daemon=True)
        process.start()
        children[build] = (process, mine)
    try:
        for build, (_, conn) in children.items():
            answer = conn.recv()
            if answer != "ready":
                raise RuntimeError(f"{build}: {answer['error']}")
        rounds = []
        order = list(children)
        for index in range(args.repeats):
            row = {}
            for build in (order if index % 2 == 0 else order[::-1]):
                conn = children[build][1]
                conn.send(args.seconds)
                answered, cpu = conn.recv()
                row[build] = {"requests": answered, "cpu_us_per_request": cpu / answered * 1e6,
                              "qps": answered / args.seconds}
            rounds.append(row)
            print(f"round {index + 1}/{args.repeats}: " + ", ".join(
                f"{b} {r['cpu_us_per_request']:.1f} us" for b, r in row.items()), flush=True)
    finally:
        for process, conn in children.values():
            conn.send(None)
            process.join(60)
            if process.is_alive():
                process.terminate()

    def spread(values: list[float]) -> dict[str, Any]:
        return {"median": statistics.median(values), "range": [min(values), max(values)]}

    figures = {build: spread([r[build]["cpu_us_per_request"] for r in rounds]) for build in builds}
    if "baseline" in builds:
        figures["server_over_baseline"] = spread(
            [r["server"]["cpu_us_per_request"] / r["baseline"]["cpu_us_per_request"]
             for r in rounds])
    return {"model": args.name, "version": int(version_dir.name), "in_flight": IN_FLIGHT,
            "batching": {"max_batch_size": args.max_batch_size,
                         "batch_timeout_micros": args.batch_timeout_micros,
                         "num_batch_threads": 1},
            "seconds": args.seconds, "repeats": args.repeats, "cpus": os.cpu_count(),
            "cpu_us_per_request": figures, "rounds": rounds}


def table(result: dict[str, Any]) -> str:
    figures = result["cpu_us_per_request"]
    lines = [f"Predict path without gRPC: {result['model']} v{result['version']}, "
             f"{result['in_flight']} coroutines, batching {result['batching']['max_batch_size']}/"
             f"{result['batching']['batch_timeout_micros']} us; CPU per request, median of "
             f"{result['repeats']} rounds [range]"]
    for build in ("server", "baseline"):
        if build in figures:
            low, high = figures[build]["range"]
            lines.append(f"  [{build}] {figures[build]['median']:7.1f} us [{low:.1f}, {high:.1f}]")
    if "server_over_baseline" in figures:
        ratio = figures["server_over_baseline"]
        lines.append(f"  server / baseline, within each round: {ratio['median']:.3f} "
                     f"[{ratio['range'][0]:.3f}, {ratio['range'][1]:.3f}]")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m liveri.benchmarks.predict_path",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--model_repo", required=True)
    parser.add_argument("--name", required=True, help="model folder in the repository")
    parser.add_argument("--out", help="folder for predict_path.json")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--seconds", type=float, default=1.0, help="per build per round")
    parser.add_argument("--warmup_s", type=float, default=1.0)
    parser.add_argument("--max_batch_size", type=int, default=32)
    parser.add_argument("--batch_timeout_micros", type=int, default=2000)
    parser.add_argument("--baseline_serve", help="also measure the serve/ code in this folder")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result = run(args)
    print(table(result))
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        path = Path(args.out) / "predict_path.json"
        path.write_text(json.dumps(result, indent=2))
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
