"""`liveri export`: a trained logdir to a new model version, or `--verify` an existing one."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from liveri import layout
from liveri.artifact import manifest
from liveri.errors import CheckFailed, UsageError


def export_command(args: argparse.Namespace) -> int:
    if args.verify:
        return verify_command(Path(args.verify))
    if not (args.experiment and args.logdir and args.model_repo):
        raise UsageError("export needs -e NAME --logdir DIR --model_repo REPO (or --verify DIR)")
    from liveri.export.exporter import export, parse_formats
    from liveri.train.registry import experiment_params
    from liveri.train.run_dir import load_params

    params = experiment_params(args.experiment, args.set)
    logdir = Path(args.logdir)
    params = load_params(logdir, args.experiment) if (logdir / "params.txt").exists() else params
    for item in args.set:
        key, _, value = item.partition("=")
        params.Override(key.strip(), value)
    formats = parse_formats(args.formats, params.export.formats, params.export.qat_steps)
    name = args.name or layout.default_model_name(args.experiment)
    version_dir = export(params, logdir, Path(args.model_repo), name, formats)
    print(json.dumps({"version_dir": str(version_dir)}))
    return 0


def verify_command(version_dir: Path) -> int:
    if not version_dir.is_dir():
        raise UsageError(f"--verify: {version_dir} is not a directory; expected REPO/MODEL/VERSION")
    try:
        problems = manifest.verify(version_dir)
    except manifest.ManifestError as e:
        raise UsageError(str(e)) from None
    if problems:
        raise CheckFailed("verification failed:\n" + "\n".join(problems))
    print(f"{version_dir}: every checksum matches")
    return 0
