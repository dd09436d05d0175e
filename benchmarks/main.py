"""`liveri bench` and `liveri release`: arguments in, the stage's work, paths and verdicts out."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from liveri.errors import UsageError


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model_repo", required=True, help="model repository (REPO/MODEL/V)")
    parser.add_argument("--name", required=True, help="model name (folder under REPO)")
    parser.add_argument("--version", type=int, help="version to bench (default: newest)")
    parser.add_argument("--server", metavar="HOST:PORT",
                        help="bench this running server instead of starting one")
    parser.add_argument("--no_server", action="store_true",
                        help="bench the artifacts only, no server")
    parser.add_argument("--enable_batching", action="store_true",
                        help="start the bench's server with dynamic batching")
    parser.add_argument("--quick", action="store_true",
                        help="short measurements (smoke tests); figures are noisier")
    parser.add_argument("--requests", nargs="+", metavar="FILE",
                        help="time on these recorded predict requests (PredictionLog TFRecords: "
                             "the server's request logs) instead of the version's warmup file")
    parser.add_argument("--out", required=True, help="folder for bench.json and the plots")


def bench_command(args: argparse.Namespace) -> int:
    """Bench one version; prints where bench.json went and the headline figures."""
    from liveri.benchmarks.bench import BenchPlan, ServerChoice, run_bench
    from liveri.benchmarks.export_cost import export_cost, render
    from liveri.benchmarks.versions import read_manifest, version_dir

    if args.server and args.no_server:
        raise UsageError("--server and --no_server contradict each other; pass one")
    if args.server and ":" not in args.server:
        raise UsageError(f"--server {args.server}: expected HOST:PORT of a running server")
    path = version_dir(args.model_repo, args.name, args.version)
    manifest = read_manifest(path)
    plan = BenchPlan.quick() if args.quick else BenchPlan()
    server = ServerChoice(target=args.server, start=not (args.server or args.no_server),
                          enable_batching=args.enable_batching)
    out = Path(args.out)
    bench = run_bench(Path(args.model_repo), path, manifest, plan, server, out, args.requests)
    print(json.dumps(headline(bench, out), indent=2))
    print(render(export_cost(path, manifest)), file=sys.stderr)
    return 0


def headline(bench: dict[str, Any], out: Path) -> dict[str, Any]:
    """The few figures worth printing: batch-1 p50/p99 per artifact and the server's answers."""
    rows = {r["key"]: f"p50 {r['p50_ms']:.3f} ms, p99 {r['p99_ms']:.3f} ms"
            for r in bench["artifacts"] if r["batch_size"] == 1}
    summary = {"bench": str(out / "bench.json"), "plots": [str(out / p) for p in bench["plots"]],
               "batch_1": rows, "elapsed_s": bench["elapsed_s"]}
    server = bench["server"]
    if "scenarios" in server:
        s = server["scenarios"]
        summary["server"] = {
            "single_stream_p99_ms": s["single_stream"]["p99_ms"],
            "server_max_valid_qps": s["server"]["max_valid_qps"],
            "offline_examples_per_s": s["offline"]["samples_per_s"],
            "loadgen": {name: s[name]["validity"] for name in ("single_stream", "multi_stream",
                                                               "offline")},
        }
    else:
        summary["server"] = server
    return summary


def add_release_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-e", "--experiment",
                        help="registered experiment name (omit for a model trained elsewhere)")
    parser.add_argument("--logdir", help="the log directory it was trained in (with -e)")
    parser.add_argument("--model_repo", required=True, help="model repository (REPO/MODEL/V)")
    parser.add_argument("--name", help="model name (default: experiment lowercased, . -> _)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a param (repeatable), e.g. release.latency_p99_ms=5")
    parser.add_argument("--quick", action="store_true",
                        help="short measurements when measuring is needed (smoke tests)")


def release_command(args: argparse.Namespace) -> int:
    """Judge the newest version; prints the report paths; CheckFailed names each missed budget."""
    from liveri.benchmarks.bench import BenchPlan
    from liveri.benchmarks.regression import ComparePlan
    from liveri.benchmarks.release import run_release

    from liveri.errors import CheckFailed

    experiment, release, card, name = (_trained(args) if args.experiment or args.logdir
                                       else _elsewhere(args))
    outcome = run_release(experiment, release, card, Path(args.model_repo), name,
                          BenchPlan.quick() if args.quick else BenchPlan(),
                          ComparePlan.quick() if args.quick else ComparePlan())
    print(outcome.report_md)
    print(outcome.report_json)
    if outcome.missed:
        raise CheckFailed("release rejected; missed budgets:\n" + "\n".join(
            f"  {m['key']}: measured {_fmt(m['measured'])} {m['unit']}, budget "
            f"{_fmt(m['budget'])} {m['unit']} ({m['rule']}){'; ' + m['note'] if m['note'] else ''}"
            for m in outcome.missed))
    print(f"release {outcome.verdict}: every budget holds", flush=True)
    return 0


def _trained(args: argparse.Namespace) -> tuple[str, dict[str, Any], Any, str]:
    """A version of a Liveri experiment: budgets from its params, its card from the logdir."""
    from liveri.benchmarks.model_card import model_card
    from liveri.train.registry import experiment_params

    from liveri import layout

    if not (args.experiment and args.logdir):
        raise UsageError("release of a trained experiment needs both -e NAME and --logdir DIR")
    logdir = Path(args.logdir)
    if not logdir.is_dir():
        raise UsageError(f"--logdir {logdir} is not a directory; expected the log directory "
                         "the version was trained in")
    params = experiment_params(args.experiment, args.set)
    release = {key.split(".", 1)[1]: value for key, value in params.items()
               if key.startswith("release.")}
    name = args.name or layout.default_model_name(args.experiment)
    return (args.experiment, release,
            lambda source, bench: model_card(args.experiment, params, logdir, source, bench),
            name)


def _elsewhere(args: argparse.Namespace) -> tuple[None, dict[str, Any], Any, str]:
    """A version of a model trained elsewhere: the budgets recorded at export, with --set."""
    from liveri.benchmarks.model_card import foreign_model_card
    from liveri.benchmarks.versions import read_manifest, version_dir

    from liveri.budgets import with_overrides

    if not args.name:
        raise UsageError("release needs -e NAME --logdir DIR for a trained experiment, or "
                         "--name MODEL for a model trained elsewhere")
    source = read_manifest(version_dir(args.model_repo, args.name))
    return None, with_overrides(source.budgets, args.set), foreign_model_card, args.name


def _fmt(value: object) -> str:
    if value is None:
        return "not measured"
    return f"{value:.4g}" if isinstance(value, float) else str(value)
