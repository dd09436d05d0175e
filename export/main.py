"""`liveri export`: a trained logdir, or a model trained elsewhere, to a new model version, or
`--verify` an existing one."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from liveri import layout
from liveri.artifact import formats, manifest
from liveri.budgets import with_overrides
from liveri.errors import CheckFailed, UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare `liveri export`'s flags on its subparser."""
    trained = parser.add_argument_group("a model trained by Liveri")
    trained.add_argument("-e", "--experiment", help="registered experiment name")
    trained.add_argument("--logdir", help="the log directory it was trained in")
    trained.add_argument("--calibration_requests", nargs="+", metavar="FILE",
                         help="calibrate int8 on these recorded predict requests (the server's "
                              "request logs: real traffic) instead of train examples")
    outside = parser.add_argument_group("a model trained elsewhere")
    source = outside.add_mutually_exclusive_group()
    source.add_argument("--saved_model", metavar="DIR", help="a SavedModel folder")
    source.add_argument("--keras", metavar="FILE.keras", help="a Keras model file")
    outside.add_argument("--examples", metavar="FILE.npz",
                         help="examples for calibration, parity and warmup: one array per "
                              "signature input, by name (a one-input model also takes one "
                              "unnamed array), or a request log (PredictionLog TFRecords); "
                              "default: generated, for numeric inputs")
    outside.add_argument("--signature", default="serving_default",
                         help="the signature to export (default: serving_default)")
    parser.add_argument("--model_repo", help="model repository to write the version into")
    parser.add_argument("--name", help="model name (default: experiment lowercased, . -> _; "
                                       "required for a model trained elsewhere)")
    parser.add_argument("--formats", help="comma-separated: " + ",".join(formats.FORMATS)
                        + " (default: " + ",".join(formats.DEFAULT) + ")")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a param; for a model trained elsewhere, release.KEY "
                             "budgets only")
    parser.add_argument("--verify", metavar="VERSION_DIR",
                        help="recompute the manifest's checksums")


def export_command(args: argparse.Namespace) -> int:
    if args.verify:
        return verify_command(Path(args.verify))
    if args.saved_model or args.keras:
        return foreign_command(args)
    if not (args.experiment and args.logdir and args.model_repo):
        raise UsageError("export needs -e NAME --logdir DIR --model_repo REPO, or --saved_model "
                         "DIR | --keras FILE.keras --model_repo REPO --name MODEL (or --verify "
                         "DIR)")
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
    version_dir = export(params, logdir, Path(args.model_repo), name, formats,
                         calibration_requests=args.calibration_requests)
    print(json.dumps({"version_dir": str(version_dir)}))
    return 0


def foreign_command(args: argparse.Namespace) -> int:
    """A SavedModel or Keras file trained elsewhere as the next version of REPO/NAME."""
    from liveri.export.foreign import export_foreign

    if args.experiment or args.logdir:
        raise UsageError("--saved_model/--keras export a model trained elsewhere; drop -e and "
                         "--logdir (they name a model Liveri trained)")
    if args.calibration_requests:
        raise UsageError("--calibration_requests is for a model Liveri trained; for one trained "
                         "elsewhere, pass a request log as --examples (calibration, parity and "
                         "warmup)")
    if not (args.model_repo and args.name):
        raise UsageError("--saved_model/--keras need --model_repo REPO and --name MODEL")
    try:
        chosen = formats.parse(args.formats) if args.formats else list(formats.DEFAULT)
    except formats.UnknownFormatError as e:
        raise UsageError(f"--formats: {e}") from None
    version_dir = export_foreign(saved_model=args.saved_model, keras=args.keras,
                                 model_repo=Path(args.model_repo), name=args.name,
                                 formats=chosen, examples=args.examples,
                                 budgets=with_overrides({}, args.set),
                                 signature=args.signature)
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
