"""The GPU path, checked: each experiment trained a few hundred steps on the CPU, on one GPU with
mixed precision, and with MirroredStrategy over every GPU; steps/s side by side and the final
loss, failing when a loss is not finite.

    python -m liveri.benchmarks.gpu_check --out DIR [--steps 300] [--experiments A,B]
    scripts/gpu_check.sh --out DIR                       # the same, after scripts/setup.sh

Each run is `liveri train` in a process of its own (the CPU run with no GPU visible), so what is
measured is what a user runs. On a machine with no GPU only the CPU runs happen, and the table
says so. Writes DIR/gpu_check.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

_FLOAT16 = ["train.mixed_precision=True", "train.mixed_precision_dtype=float16"]
RUNS = {  # name -> (strategy, extra params, hide the GPUs); the CPU runs the defaults
    "cpu": ("one_device", [], True),
    "gpu_mixed": ("one_device", _FLOAT16, False),
    "mirrored_mixed": ("mirrored", _FLOAT16, False),
}


def gpus() -> list[str]:
    """Physical GPUs TensorFlow sees, in a fresh process (importing TF here would hold them)."""
    probe = ("import tensorflow as tf, json; "
             "print(json.dumps([d.name for d in tf.config.list_physical_devices('GPU')]))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"), timeout=300)
    return json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else []


def train_run(experiment: str, run: str, steps: int) -> dict[str, Any]:
    """One `liveri train` of `steps` steps: steps/s (median of the logged intervals after the
    first), the last logged loss, and whether it is finite."""
    strategy, extra, hide_gpus = RUNS[run]
    interval = max(steps // 10, 1)
    sets = [f"train.max_steps={steps}", f"train.log_every={interval}",
            f"train.eval_every={steps}", f"train.checkpoint_every={steps}", *extra]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    if hide_gpus:
        env["CUDA_VISIBLE_DEVICES"] = ""
    with tempfile.TemporaryDirectory(prefix="liveri-gpu-check-") as logdir:
        argv = [sys.executable, "-m", "liveri.cli", "train", "-e", experiment, "--logdir",
                logdir, "--strategy", strategy]
        for item in sets:
            argv += ["--set", item]
        done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=3600)
        if done.returncode != 0:
            return {"error": done.stderr[-1500:], "finite": False}
        rows = [json.loads(line) for line in
                (Path(logdir) / "train_log.jsonl").read_text().splitlines()]
    logged = [r for r in rows if "examples_per_sec" in r]
    batch = _batch_size(experiment)
    rates = [r["examples_per_sec"] for r in logged[1:]] or [logged[-1]["examples_per_sec"]]
    loss = float(logged[-1]["loss"])
    return {"steps_per_s": statistics.median(rates) / batch, "final_loss": loss,
            "finite": math.isfinite(loss)}


def _batch_size(experiment: str) -> int:
    from liveri.train.registry import experiment_params

    return experiment_params(experiment, []).train.batch_size


def _registered() -> list[str]:
    import liveri.train.experiments  # noqa: F401
    from liveri.train import registry

    return sorted(registry.names())


def run(args: argparse.Namespace) -> dict[str, Any]:
    found = gpus()
    runs = list(RUNS) if found else ["cpu"]
    experiments = args.experiments.split(",") if args.experiments else _registered()
    results: dict[str, dict[str, Any]] = {}
    for name in experiments:
        results[name] = {}
        for run_name in runs:
            print(f"[gpu_check] {name} {run_name} ({args.steps} steps)", file=sys.stderr,
                  flush=True)
            results[name][run_name] = train_run(name, run_name, args.steps)
    return {"gpus": found, "steps": args.steps, "runs": runs, "results": results}


def format_table(report: dict[str, Any]) -> str:
    lines = [f"GPUs: {', '.join(report['gpus']) or 'none visible to TensorFlow: CPU runs only'}",
             f"{'experiment':<28}" + "".join(f"{r + ' steps/s':>24}" for r in report["runs"])
             + "   final loss"]
    for name, row in report["results"].items():
        cells, losses = [], []
        for run_name in report["runs"]:
            r = row[run_name]
            if "error" in r:
                cells.append(f"{'FAILED':>24}")
                continue
            cpu = row["cpu"].get("steps_per_s")
            ratio = f" (x{r['steps_per_s'] / cpu:.1f})" if cpu and run_name != "cpu" else ""
            cells.append(f"{r['steps_per_s']:>16.1f}{ratio:>8}")
            losses.append(f"{r['final_loss']:.3f}")
        lines.append(f"{name:<28}" + "".join(cells) + "   " + " / ".join(losses))
    return "\n".join(lines)


def failures(report: dict[str, Any]) -> list[str]:
    """Runs that failed or ended with a loss that is not finite."""
    return [f"{name} {run_name}: {r.get('error', 'loss ' + str(r.get('final_loss')))[-300:]}"
            for name, row in report["results"].items() for run_name, r in row.items()
            if not r["finite"]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m liveri.benchmarks.gpu_check",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="directory for gpu_check.json")
    parser.add_argument("--steps", type=int, default=300, help="training steps per run")
    parser.add_argument("--experiments", default="", help="comma-separated; default: all")
    args = parser.parse_args(argv)
    report = run(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_check.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    print(format_table(report))
    bad = failures(report)
    for line in bad:
        print(f"[gpu_check] FAILED {line}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
