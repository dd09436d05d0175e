"""The log directory's record of what trained it: refuse to resume with a different model."""

from __future__ import annotations

import os
from pathlib import Path

from liveri.train import registry
from liveri.train.trainer_params import RESUMABLE_KEYS, RESUMABLE_PREFIXES

from liveri import layout
from liveri.errors import UsageError
from liveri.fileio import atomic_write_text
from liveri.params import Params, ParamsError, diff, format_diff


def check_or_write_params(logdir: Path, params: Params) -> None:
    """Write `params.txt`, or check that resuming keeps every key that shapes the model."""
    try:
        logdir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"--logdir: cannot create {logdir}: {e.strerror}; expected a writable "
                         "directory") from None
    if not os.access(logdir, os.W_OK):
        raise UsageError(f"--logdir: {logdir} is not writable; expected a writable directory")
    path = logdir / layout.PARAMS_FILE
    if path.exists():
        saved = registry.get(params.experiment)().Params()
        try:
            saved.FromText(path.read_text())
        except ParamsError as e:
            raise UsageError(f"{path} does not match experiment {params.experiment}: {e}") from None
        changed = [row for row in diff(saved, params)
                   if row[0] not in RESUMABLE_KEYS and not row[0].startswith(RESUMABLE_PREFIXES)]
        if changed:
            raise UsageError(
                f"{logdir} was trained with other params; resuming would change the model:\n"
                + format_diff(changed, "logdir", "now")
                + "\nuse a new --logdir, or only change train.max_steps"
            )
    atomic_write_text(path, params.ToText())


def load_params(logdir: Path, experiment: str) -> Params:
    """The params that trained `logdir` (its params.txt over the experiment's defaults)."""
    path = logdir / layout.PARAMS_FILE
    params = registry.get(experiment)().Params()
    if not path.exists():
        raise UsageError(f"{path} not found; expected a logdir written by `liveri train`")
    return params.FromText(path.read_text())
