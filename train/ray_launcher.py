"""`liveri train --strategy multi_worker --launcher ray --workers N`: the workers as Ray Train
workers.

Ray Train's `TensorflowTrainer` places N workers (one CPU each) on a Ray cluster and writes each
one's `TF_CONFIG` for MultiWorkerMirroredStrategy; each then runs exactly the worker that
`--workers N` starts locally (`multi_worker.run_worker`). The cluster is the one at
`--ray_address` or `RAY_ADDRESS`; with neither, this process starts a local one, which ends with
it (kill -9 included).

Ray's own checkpoints are not used: the chief writes checkpoints, summaries and params.txt to
`--logdir`, as with one worker, and a new run resumes from them; so on a real cluster the
logdir must be one path every node can write (a shared file system, or a bucket TensorFlow
writes). Ray keeps its run state under `LOGDIR/ray`. A worker that fails or dies fails the run
with its error (`FailureConfig(max_failures=0)`): no silent restarts, no hang.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from liveri import layout
from liveri.errors import UsageError

RAY_DIR = "ray"  # under the logdir: Ray Train's run state


def launch_on_ray(args: argparse.Namespace) -> int:
    """Train on Ray; prints the chief's final metrics. Exit 1 when a worker failed."""
    # Ray folds log lines that differ only in numbers: each step's progress line would vanish
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    address = args.ray_address or os.environ.get("RAY_ADDRESS")
    ray = _connect(address, args.workers)
    from ray.train import FailureConfig, RunConfig, ScalingConfig
    from ray.train.tensorflow import TensorflowTrainer

    logdir = Path(args.logdir).resolve()
    print(f"[train] Ray cluster {address or 'started here'}: {args.workers} workers",
          file=sys.stderr, flush=True)
    trainer = TensorflowTrainer(
        _worker,
        train_loop_config={"experiment": args.experiment, "set": list(args.set),
                           "logdir": str(logdir)},
        scaling_config=ScalingConfig(num_workers=args.workers, use_gpu=False,
                                     resources_per_worker={"CPU": 1}),
        run_config=RunConfig(name="train", storage_path=str(logdir / RAY_DIR),
                             failure_config=FailureConfig(max_failures=0)))
    try:
        trainer.fit()
    except ray.train.TrainingFailedError as e:
        print(f"[train] a Ray worker failed: {e}", file=sys.stderr)
        return 1
    finally:
        ray.shutdown()
    metrics = json.loads((logdir / layout.METRICS_FILE).read_text())
    print(json.dumps(metrics, sort_keys=True))  # as the chief prints it with one worker
    return 0


def _connect(address: str | None, workers: int) -> Any:
    """Ray, connected to the cluster at `address`, or to a local one started with a CPU for
    every worker (oversubscribing, as the local launcher does)."""
    if address:
        _token_auth_when_a_token_is_here()  # read when ray is imported
    try:
        import ray
        import ray.train.tensorflow  # noqa: F401
    except ImportError as e:
        raise UsageError(f"--launcher ray: {e}; expected ray[train] installed (the 'cluster' "
                         "extra: pip install -e '.[cluster]', as scripts/setup.sh does)") from None
    if address:
        ray.init(address=address)
    else:
        ray.init(num_cpus=max(os.cpu_count() or 1, workers), include_dashboard=False)
    return ray


def _token_auth_when_a_token_is_here() -> None:
    """`ray start` turns token authentication on, and `ray.init("auto")` finds the token; with
    an explicit address Ray 2.60 sends none unless RAY_AUTH_MODE=token (its documented switch)."""
    if "RAY_AUTH_TOKEN" in os.environ or (Path.home() / ".ray" / "auth_token").exists():
        os.environ.setdefault("RAY_AUTH_MODE", "token")


def _worker(config: dict[str, Any]) -> None:
    """One Ray Train worker: the experiment's params, then the multi-worker worker. Only the
    chief speaks, as with the local launcher: the others' output goes to /dev/null."""
    import ray.train
    from liveri.train.multi_worker import run_worker
    from liveri.train.registry import experiment_params

    if ray.train.get_context().get_world_rank() != 0:
        quiet = os.open(os.devnull, os.O_WRONLY)
        os.dup2(quiet, 1)
        os.dup2(quiet, 2)
    params = experiment_params(config["experiment"], config["set"])
    run_worker(Path(config["logdir"]), params)
