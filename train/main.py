"""`liveri train` and `liveri eval`: the command-line face of the trainer."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from liveri import layout
from liveri.errors import UsageError
from liveri.fileio import atomic_write_json


def train_command(args: argparse.Namespace) -> int:
    from liveri.train.registry import experiment_params

    params = experiment_params(args.experiment, args.set)
    if args.strategy == "multi_worker":
        from liveri.train.multi_worker import train_multi_worker

        return train_multi_worker(args, params)
    from liveri.train.strategies import make_strategy
    from liveri.train.trainer import Trainer

    trainer = Trainer(params, Path(args.logdir), make_strategy(args.strategy))
    metrics = trainer.Train()
    print(json.dumps(metrics, sort_keys=True))
    return 0


def eval_command(args: argparse.Namespace) -> int:
    from liveri.train.evaluation import evaluate
    from liveri.train.run_dir import load_params
    from liveri.train.trainer import restore_task

    logdir = Path(args.logdir)
    if not logdir.is_dir():
        raise UsageError(f"--logdir: {logdir} is not a directory; expected a trained logdir")
    params = load_params(logdir, args.experiment)
    task, step, checkpoint = restore_task(params, logdir, args.checkpoint)
    metrics = evaluate(task, params.input.Instantiate(), "test")
    record = {"step": step, "split": "test", "checkpoint": checkpoint,
              "main_metric": task.main_metric, **metrics}
    atomic_write_json(logdir / layout.METRICS_FILE, record)
    print(json.dumps(record, sort_keys=True))
    return 0
