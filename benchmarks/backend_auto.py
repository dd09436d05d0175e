"""`--liveri_backend=auto` against the SavedModel backend, side by side (issue 24, item 10).

    python -m liveri.benchmarks.backend_auto --model_repo REPO --names image_digits \\
        text_punctuator speech_asr --out DIR [--rounds 5] [--seconds 1.0]

For each model, two servers run at once, each in a child process of its own
(`server_process`): one with the SavedModel backend (TF Serving's), one with `auto`. Each round
measures both, in turn (in reverse every other round), on the version's first warmup example at
batch 1 through the stock gRPC stubs: a lone client's p50 (one query in flight, blocking calls)
and throughput with 32 in flight (a closed loop of 32 grpc.aio tasks on uvloop in this process,
which costs the client less CPU than 32 threads; client and server still share this machine's
cores). Each figure is the median over rounds
of its value, and each ratio the median of the within-round ratios, so the machine's drift between
rounds cancels out. Writes DIR/backend_auto.json and prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import grpc
import uvloop
from google.protobuf import json_format, struct_pb2
from liveri.benchmarks import closed_loop
from liveri.benchmarks.grpc_client import PredictClient
from liveri.benchmarks.inputs import tile_batch, warmup_examples
from liveri.benchmarks.server_process import started_child
from liveri.benchmarks.versions import version_dir

BACKENDS = ("tensorflow", "auto")
IN_FLIGHT = 32
GOAL_P50_RATIO = 0.8  # image.Digits: auto's p50 at most 0.8 of the SavedModel backend's


def chosen_backend(client: PredictClient) -> dict[str, Any]:
    """What the server says answers serving_default (GetModelMetadata, liveri_backend)."""
    from tensorflow_serving.apis import get_model_metadata_pb2

    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["liveri_backend"])
    request.model_spec.name = client.model
    answer = client.stub.GetModelMetadata(request, timeout=30)
    found = struct_pb2.Struct()
    answer.metadata["liveri_backend"].Unpack(found)
    return json_format.MessageToDict(found)["serving_default"]


def measure(model_repo: Path, name: str, rounds: int, seconds: float) -> dict[str, Any]:
    path = version_dir(str(model_repo), name, None)
    version = int(path.name)
    examples = tile_batch(warmup_examples(path), 1)
    per_round: dict[str, list[dict[str, float]]] = {b: [] for b in BACKENDS}
    with contextlib.ExitStack() as stack:
        clients = {}
        for backend in BACKENDS:
            _, ports = stack.enter_context(started_child(model_repo, name, version,
                                                         backend=backend))
            clients[backend] = PredictClient(f"127.0.0.1:{ports['grpc_port']}", name, version)
            stack.callback(clients[backend].close)
        requests = {b: clients[b].request(examples) for b in BACKENDS}
        chosen = chosen_backend(clients["auto"])
        for r in range(rounds):
            for backend in BACKENDS if r % 2 == 0 else reversed(BACKENDS):
                client, request = clients[backend], requests[backend]
                one = closed_loop.closed_loop(lambda c=client, q=request: c.predict(q), 1, seconds)
                throughput = uvloop.run(_throughput(client.target, request, seconds))
                per_round[backend].append({"p50_ms": one.summary()["p50_ms"],
                                           "throughput": throughput})
            print(f"{name} round {r + 1}/{rounds}: " + ", ".join(
                f"{b} p50 {per_round[b][-1]['p50_ms']:.3f} ms, "
                f"{per_round[b][-1]['throughput']:.0f}/s" for b in BACKENDS), flush=True)
    return {"model": name, "version": version, "auto_chose": chosen["backend"],
            "p50_at_load_ms": chosen.get("p50_ms", {}), "refused": chosen.get("refused", {}),
            **_summary(per_round)}


async def _throughput(target: str, request: Any, seconds: float) -> float:
    """Answers per second with IN_FLIGHT queries always in flight, after a short warm-up."""
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    async with grpc.aio.insecure_channel(target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        await asyncio.gather(*[stub.Predict(request, timeout=30) for _ in range(IN_FLIGHT)])
        answered = 0
        ends = time.perf_counter() + seconds

        async def client() -> None:
            nonlocal answered
            while time.perf_counter() < ends:
                await stub.Predict(request, timeout=30)
                answered += 1

        started = time.perf_counter()
        await asyncio.gather(*[client() for _ in range(IN_FLIGHT)])
        return answered / (time.perf_counter() - started)


def _summary(per_round: dict[str, list[dict[str, float]]]) -> dict[str, Any]:
    def median(backend: str, key: str) -> float:
        return round(statistics.median(r[key] for r in per_round[backend]), 4)

    def ratio(key: str) -> dict[str, float]:
        ratios = [a[key] / t[key] for a, t in zip(per_round["auto"], per_round["tensorflow"])]
        return {"median": round(statistics.median(ratios), 3),
                "min": round(min(ratios), 3), "max": round(max(ratios), 3)}

    return {"p50_ms": {b: median(b, "p50_ms") for b in BACKENDS},
            f"throughput_at_{IN_FLIGHT}": {b: median(b, "throughput") for b in BACKENDS},
            "auto_over_saved_model": {"p50": ratio("p50_ms"), "throughput": ratio("throughput")},
            "rounds": per_round}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_repo", required=True, type=Path)
    parser.add_argument("--names", nargs="+", required=True)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    results = [measure(args.model_repo, n, args.rounds, args.seconds) for n in args.names]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "backend_auto.json").write_text(json.dumps(
        {"in_flight": IN_FLIGHT, "goal_p50_ratio": GOAL_P50_RATIO, "models": results},
        indent=1) + "\n")
    print(f"\n| model | auto chose | p50 SavedModel / auto ms | p50 ratio (min-max) | "
          f"{IN_FLIGHT} in flight /s SavedModel / auto | throughput ratio |")
    print("|---|---|---|---|---|---|")
    for m in results:
        p50, qps, ratio = m["p50_ms"], m[f"throughput_at_{IN_FLIGHT}"], m["auto_over_saved_model"]
        print(f"| {m['model']} | {m['auto_chose']} | {p50['tensorflow']:.3f} / {p50['auto']:.3f} "
              f"| {ratio['p50']['median']} ({ratio['p50']['min']}-{ratio['p50']['max']}) | "
              f"{qps['tensorflow']:.0f} / {qps['auto']:.0f} | {ratio['throughput']['median']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
