"""How fast training runs, and what would slow it down: issue 5's three training figures.

    python -m liveri.benchmarks.train_speed --out DIR [--quick] [--experiments A,B]

(a) the custom loop's median step time against tf_keras `fit` on the same image.Digits task,
    optimizer, clipping and batches (goal: the loop is not slower);
(b) for each registered experiment, the input pipeline's examples/s against training
    examples/s (goal: the pipeline delivers at least 3x what training consumes);
(c) image.Digits steps/s with 1 and with 2 local workers (`--strategy multi_worker`), same
    global batch;
(d) for each experiment, ms per step with XLA (`train.jit_compile`), bfloat16 mixed precision,
    both, against float32, in alternating intervals.

Step times are medians over intervals of `interval` steps, after one interval of warm-up
(tracing); in (a) the two loops alternate interval by interval. Writes DIR/train_speed.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

GOAL_PIPELINE_MULTIPLE = 3.0


def _params(experiment: str, overrides: list[str]) -> Any:
    from liveri.train.registry import experiment_params

    return experiment_params(experiment, overrides)


def _interval_overrides(steps: int, interval: int) -> list[str]:
    """Train `steps` steps logging every `interval`, with no eval or checkpoint in between."""
    return [f"train.max_steps={steps}", f"train.log_every={interval}",
            f"train.eval_every={steps}", f"train.checkpoint_every={steps}"]


def _logged_rates(logdir: Path) -> list[float]:
    """examples/s of each logged training interval after the first (which includes tracing)."""
    rows = [json.loads(line) for line in (logdir / "train_log.jsonl").read_text().splitlines()]
    rates = [r["examples_per_sec"] for r in rows if "examples_per_sec" in r]
    return rates[1:]


def loop_vs_fit_step_ms(experiment: str, rounds: int, interval: int) -> dict[str, Any]:
    """Median ms per step of the trainer's compiled loop and of tf_keras `Model.fit` on the
    same task, optimizer, clipping and batches. The task is wrapped in a Model whose train_step
    is the loop's step. The two alternate, one interval each per round, so load from other
    processes hits both alike; the first round (tracing) is not counted."""
    import tf_keras
    from liveri.train.trainer import Trainer, make_optimizer

    from liveri.lazy import tf

    params = _params(experiment, [])
    p = params.train
    with tempfile.TemporaryDirectory(prefix="liveri-bench-") as tmp:
        trainer = Trainer(params, Path(tmp))
    train_loop = trainer.TrainLoop()
    dataset = params.input.Instantiate().Dataset("train", p.batch_size, training=True,
                                                 seed=p.seed)
    iterator = iter(trainer.strategy.experimental_distribute_dataset(dataset))

    task = params.model.Instantiate()
    variables = task.trainable_variables
    step = tf.Variable(0, dtype=tf.int64, trainable=False)

    class TaskModel(tf_keras.Model):
        def train_step(self, batch: dict[str, Any]) -> dict[str, Any]:
            with tf.GradientTape() as tape:
                loss, _ = task.ComputeLoss(batch, training=True)
            grads = tape.gradient(loss, variables)
            if p.clip_gradient_norm > 0:
                grads, _ = tf.clip_by_global_norm(grads, p.clip_gradient_norm)
            self.optimizer.apply_gradients(zip(grads, variables))
            step.assign_add(1)
            return {"loss": loss}

    class EpochTime(tf_keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            self.seconds = time.perf_counter() - self.start

    model = TaskModel()
    model.compile(optimizer=make_optimizer(p, step))
    keras_data = params.input.Instantiate().Dataset("train", p.batch_size, training=True,
                                                    seed=p.seed)
    epoch_time = EpochTime()
    loop_ms, fit_ms = [], []
    for r in range(rounds + 1):
        t0 = time.perf_counter()
        float(train_loop(iterator, tf.constant(interval))[0])
        loop = 1000.0 * (time.perf_counter() - t0) / interval
        model.fit(keras_data, epochs=1, steps_per_epoch=interval, verbose=0,
                  callbacks=[epoch_time])
        if r:
            loop_ms.append(loop)
            fit_ms.append(1000.0 * epoch_time.seconds / interval)
    loop_median, fit_median = statistics.median(loop_ms), statistics.median(fit_ms)
    return {"custom_loop_step_ms": loop_median, "keras_fit_step_ms": fit_median,
            "custom_loop_rounds_ms": loop_ms, "keras_fit_rounds_ms": fit_ms,
            "rounds": rounds, "steps_per_round": interval, "goal_met": loop_median <= fit_median}


def pipeline_vs_training(experiment: str, steps: int, interval: int,
                         pipeline_seconds: float) -> dict[str, Any]:
    """Input examples/s (the training pipeline alone) and training examples/s of `experiment`."""
    from liveri.train.input.throughput import examples_per_second
    from liveri.train.trainer import Trainer

    params = _params(experiment, _interval_overrides(steps, interval))
    batch = params.train.batch_size
    with tempfile.TemporaryDirectory(prefix="liveri-bench-") as tmp:
        Trainer(params, Path(tmp)).Train()
        training = statistics.median(_logged_rates(Path(tmp)))
    pipeline = examples_per_second(params.input.Instantiate(), batch_size=batch,
                                   seconds=pipeline_seconds)
    return {"input_examples_per_s": pipeline, "train_examples_per_s": training,
            "multiple": pipeline / training,
            "goal_met": pipeline >= GOAL_PIPELINE_MULTIPLE * training}


def workers_steps_per_s(workers: int, steps: int, interval: int) -> dict[str, Any]:
    """image.Digits steps/s under `liveri train --strategy multi_worker --workers N`."""
    batch = _params("image.Digits", []).train.batch_size
    with tempfile.TemporaryDirectory(prefix="liveri-bench-") as tmp:
        argv = [sys.executable, "-m", "liveri.cli", "train", "-e", "image.Digits", "--logdir", tmp,
                "--strategy", "multi_worker", "--workers", str(workers)]
        for item in _interval_overrides(steps, interval):
            argv += ["--set", item]
        t0 = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True, timeout=900,
                              env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
        wall = time.perf_counter() - t0
        if done.returncode != 0:
            raise RuntimeError(f"{workers} worker(s) failed:\n{done.stderr[-2000:]}")
        rates = _logged_rates(Path(tmp))
    return {"steps_per_s": statistics.median(rates) / batch, "wall_s": wall,
            "intervals": len(rates)}


_FLOAT32 = ["train.mixed_precision=False", "train.jit_compile=False"]
_BFLOAT16 = ["train.mixed_precision=True", "train.mixed_precision_dtype=bfloat16"]
STEP_OPTIONS = {  # each names every option, whatever an experiment's defaults are
    "float32": _FLOAT32,
    "xla": [*_FLOAT32, "train.jit_compile=True"],
    "bfloat16": [*_FLOAT32, *_BFLOAT16],
    "xla+bfloat16": [*_FLOAT32, "train.jit_compile=True", *_BFLOAT16],
}


def step_options_ms(experiment: str, rounds: int, interval: int,
                    options: dict[str, list[str]] = STEP_OPTIONS) -> dict[str, Any]:
    """Median ms per step of `experiment`'s compiled loop under each option (XLA, bfloat16...)
    against plain float32 (neither), options alternating interval by interval; the first round
    (tracing, XLA compiling) is not counted. Each option sets both knobs, so an experiment
    whose defaults hold one (speech.Asr trains in bfloat16) is measured the same way."""
    from liveri.train.trainer import Trainer

    from liveri.lazy import tf

    loops = {}
    with tempfile.TemporaryDirectory(prefix="liveri-bench-") as tmp:
        for name, overrides in options.items():
            params = _params(experiment, overrides)
            trainer = Trainer(params, Path(tmp) / name)
            p = params.train
            dataset = params.input.Instantiate().Dataset("train", p.batch_size, training=True,
                                                         seed=p.seed)
            loops[name] = (trainer.TrainLoop(),
                           iter(trainer.strategy.experimental_distribute_dataset(dataset)))
    times: dict[str, list[float]] = {name: [] for name in options}
    losses: dict[str, float] = {}
    failed: dict[str, dict[str, str]] = {}
    for r in range(rounds + 1):
        for name, (loop, iterator) in list(loops.items()):
            t0 = time.perf_counter()
            try:
                losses[name] = float(loop(iterator, tf.constant(interval))[0])
            except (tf.errors.OpError, TypeError, ValueError) as e:  # e.g. an op XLA lacks
                failed[name] = {"error": f"{type(e).__name__}: {str(e)[:300]}"}
                del loops[name]
                continue
            if r:
                times[name].append(1000.0 * (time.perf_counter() - t0) / interval)
    base = statistics.median(times["float32"])
    return {**{name: {"step_ms": statistics.median(t), "rounds_ms": t,
                      "speedup": base / statistics.median(t), "last_loss": losses[name]}
               for name, t in times.items() if t}, **failed}


def _registered() -> list[str]:
    import liveri.train.experiments  # noqa: F401
    from liveri.train import registry

    return sorted(registry.names())


def run(args: argparse.Namespace) -> dict[str, Any]:
    quick = args.quick
    steps, interval = (60, 10) if quick else (600, 50)
    experiments = (args.experiments.split(",") if args.experiments
                   else ["image.Digits"] if quick else _registered())
    report: dict[str, Any] = {"quick": quick, "steps": steps, "interval": interval}

    report["loop_vs_fit"] = loop_vs_fit_step_ms("image.Digits", 3 if quick else 10, interval)

    report["pipeline"] = {}
    for name in experiments:
        try:
            report["pipeline"][name] = pipeline_vs_training(
                name, steps // 2 if quick else 200, interval, 1.0 if quick else 5.0)
        except Exception as e:  # one experiment's missing data must not hide the others
            report["pipeline"][name] = {"error": f"{type(e).__name__}: {e}"[:500]}

    report["workers"] = {str(n): workers_steps_per_s(n, steps, interval) for n in (1, 2)}

    report["step_options"] = {}
    for name in experiments:
        try:
            report["step_options"][name] = step_options_ms(name, 2 if quick else 5,
                                                           10 if quick else 20)
        except Exception as e:  # as in (b): one experiment must not hide the others
            report["step_options"][name] = {"error": f"{type(e).__name__}: {e}"[:500]}
    return report


def format_table(report: dict[str, Any]) -> str:
    lines = []
    lv = report["loop_vs_fit"]
    lines.append("(a) image.Digits median step time")
    lines.append(f"    custom loop      {lv['custom_loop_step_ms']:8.2f} ms")
    lines.append(f"    tf_keras fit     {lv['keras_fit_step_ms']:8.2f} ms"
                 f"    goal (loop not slower) {'met' if lv['goal_met'] else 'NOT met'}")
    lines.append("(b) input pipeline vs training, examples/s")
    lines.append(f"    {'experiment':<24}{'input':>12}{'training':>12}{'multiple':>10}  goal>=3x")
    for name, row in report["pipeline"].items():
        if "error" in row:
            lines.append(f"    {name:<24}  not measured: {row['error'][:80]}")
            continue
        lines.append(f"    {name:<24}{row['input_examples_per_s']:12.0f}"
                     f"{row['train_examples_per_s']:12.0f}{row['multiple']:10.1f}  "
                     f"{'met' if row['goal_met'] else 'NOT met'}")
    lines.append("(c) image.Digits with multi_worker, same global batch")
    for n, row in report["workers"].items():
        lines.append(f"    {n} worker(s)      {row['steps_per_s']:8.1f} steps/s")
    lines.append("(d) median ms per step (speedup over float32)")
    lines.append(f"    {'experiment':<28}" + "".join(f"{o:>20}" for o in STEP_OPTIONS))
    for name, row in report["step_options"].items():
        cells = [f"{'not measured':>20}" if "step_ms" not in row.get(o, {}) else
                 f"{row[o]['step_ms']:>12.1f} (x{row[o]['speedup']:.2f})" for o in STEP_OPTIONS]
        lines.append(f"    {name:<28}" + "".join(cells))
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m liveri.benchmarks.train_speed",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="directory for train_speed.json")
    parser.add_argument("--quick", action="store_true",
                        help="few steps, image.Digits only: checks that it runs")
    parser.add_argument("--experiments", default="",
                        help="comma-separated experiments for (b); default: all registered")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = parse_args(argv)
    report = run(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "train_speed.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    print(format_table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
