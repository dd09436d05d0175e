"""Multi-worker training with MultiWorkerMirroredStrategy.

On a cluster each worker runs `liveri train --strategy multi_worker` with `TF_CONFIG` from its
environment. With `--workers N` and no `TF_CONFIG`, this process launches N local workers itself,
each with a `TF_CONFIG` on loopback ports, and waits for them; with `--launcher ray` Ray Train
starts them (`ray_launcher.py`). The chief (worker 0) writes checkpoints and summaries to the
logdir; the others write to temporary directories.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from liveri.errors import UsageError
from liveri.params import Params


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def train_multi_worker(args: argparse.Namespace, params: Params) -> int:
    if "TF_CONFIG" in os.environ:
        metrics = run_worker(Path(args.logdir), params)
        if metrics is not None:
            print(json.dumps(metrics, sort_keys=True))
        return 0
    if args.workers < 1:
        raise UsageError(f"--workers: expected a positive number of workers, got {args.workers}")
    if args.launcher == "ray":
        from liveri.train.ray_launcher import launch_on_ray

        return launch_on_ray(args)
    return _launch_local_workers(args)


def run_worker(logdir: Path, params: Params) -> dict | None:
    """This process as the worker its `TF_CONFIG` names; the chief's final metrics, else None."""
    import tensorflow as tf
    from liveri.train.trainer import Trainer

    config = json.loads(os.environ["TF_CONFIG"])
    task = config.get("task", {})
    is_chief = task.get("type") == "chief" or (
        task.get("type") == "worker" and task.get("index", 0) == 0
        and "chief" not in config.get("cluster", {}))
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    scratch = None if is_chief else Path(tempfile.mkdtemp(prefix="liveri-worker-"))
    try:
        trainer = Trainer(params, logdir, strategy, is_chief=is_chief, scratch_dir=scratch)
        metrics = trainer.Train()
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    return metrics if is_chief else None


def _launch_local_workers(args: argparse.Namespace) -> int:
    ports = _free_ports(args.workers)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    argv = [sys.executable, "-m", "liveri.cli", "train", "-e", args.experiment, "--logdir",
            args.logdir, "--strategy", "multi_worker"]
    for item in args.set:
        argv += ["--set", item]
    procs = []
    for index in range(args.workers):
        env = dict(os.environ, TF_CONFIG=json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": index}}))
        out = None if index == 0 else subprocess.DEVNULL
        procs.append(subprocess.Popen(argv, env=env, stdout=out, stderr=out))
    print(f"[train] launched {args.workers} workers on {', '.join(cluster['worker'])}",
          file=sys.stderr)
    try:
        while True:
            codes = [p.poll() for p in procs]
            if any(c not in (None, 0) for c in codes):
                failed = [i for i, c in enumerate(codes) if c not in (None, 0)]
                raise RuntimeError(f"worker(s) {failed} failed; stopping the others")
            if all(c == 0 for c in codes):
                return 0
            time.sleep(0.2)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
