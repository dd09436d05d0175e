"""The `liveri` command line: one small function per subcommand, stages imported lazily.

Exit codes: 0 success; 1 a release gate or quality check failed; 2 bad usage or bad input.
Adding a subcommand: write `_cmd_NAME(args)` and register its arguments in `_build_parser`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from liveri.train import registry
from liveri.train.registry import experiment_params

from liveri.errors import CheckFailed, UsageError
from liveri.params import ParamsError, diff, format_diff


def _add_experiment(sub: argparse.ArgumentParser, required: bool = True) -> None:
    sub.add_argument("-e", "--experiment", required=required, help="registered experiment name")
    sub.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="override a param (repeatable), e.g. train.max_steps=300")


def _cmd_list(args: argparse.Namespace) -> int:
    print("\n".join(registry.names()))
    return 0


def _cmd_params(args: argparse.Namespace) -> int:
    params = experiment_params(args.experiment, args.set)
    if args.diff:
        other = experiment_params(args.diff)
        rows = diff(params, other)
        print(format_diff(rows, args.experiment, args.diff) if rows else "(no differences)")
        return 0
    if args.docs:
        for key, value in params.items():
            print(f"{key} : {value!r}  # {params.Doc(key)}")
        return 0
    sys.stdout.write(params.ToText())
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from liveri.train.main import train_command

    return train_command(args)


def _cmd_eval(args: argparse.Namespace) -> int:
    from liveri.train.main import eval_command

    return eval_command(args)


def _cmd_export(args: argparse.Namespace) -> int:
    from liveri.export.main import export_command

    return export_command(args)


def _cmd_run(args: argparse.Namespace) -> int:
    from liveri.cli.pipeline import run_command

    return run_command(args)


def _cmd_serve(args: argparse.Namespace) -> int:
    from liveri.serve.main import serve_command

    return serve_command(args)


def _cmd_bundle(args: argparse.Namespace) -> int:
    from liveri.mobile.main import bundle_command

    return bundle_command(args)


def _cmd_bench(args: argparse.Namespace) -> int:
    from liveri.benchmarks.main import bench_command

    return bench_command(args)


def _cmd_release(args: argparse.Namespace) -> int:
    from liveri.benchmarks.main import release_command

    return release_command(args)


def _build_parser() -> tuple[argparse.ArgumentParser, dict[str, Callable[..., int]]]:
    parser = argparse.ArgumentParser(
        prog="liveri", description="Train, export, serve, bundle, benchmark and gate models."
    )
    subs = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands: dict[str, Callable[..., int]] = {}

    def add(name: str, fn: Callable[..., int], help_text: str) -> argparse.ArgumentParser:
        commands[name] = fn
        return subs.add_parser(name, help=help_text, description=help_text)

    add("list", _cmd_list, "registered experiments, one name per line")

    p = add("params", _cmd_params, "print an experiment's full params")
    _add_experiment(p)
    p.add_argument("--diff", metavar="OTHER", help="print the keys that differ from OTHER")
    p.add_argument("--docs", action="store_true", help="print each key's doc too")

    p = add("train", _cmd_train, "train an experiment into a log directory (resumes)")
    _add_experiment(p)
    p.add_argument("--logdir", required=True)
    p.add_argument("--strategy", default="one_device",
                   choices=("one_device", "mirrored", "multi_worker"))
    p.add_argument("--workers", type=int, default=1, help="multi_worker: worker processes")
    p.add_argument("--launcher", default="local", choices=("local", "ray"),
                   help="multi_worker: start the workers here (local) or as Ray Train workers "
                        "(ray: on the cluster of --ray_address or RAY_ADDRESS, else a local one)")
    p.add_argument("--ray_address", help="--launcher ray: the Ray cluster, e.g. ray://HOST:10001 "
                                         "or HOST:6379 (default: RAY_ADDRESS)")

    p = add("eval", _cmd_eval, "evaluate a checkpoint on the held-out test split")
    _add_experiment(p)
    p.add_argument("--logdir", required=True)
    p.add_argument("--checkpoint", help="checkpoint path (default: the latest in LOGDIR)")

    from liveri.export.main import add_arguments as add_export_arguments

    add_export_arguments(add("export", _cmd_export, "export a trained logdir, or a SavedModel or "
                             "Keras model trained elsewhere, as a new model version"))

    from liveri.serve.flags import add_arguments as add_serve_arguments

    add_serve_arguments(add("serve", _cmd_serve, "serve a model repository over gRPC and REST "
                            "(TF Serving's API and flags)"))

    from liveri.mobile.main import add_arguments as add_bundle_arguments

    add_bundle_arguments(add("bundle", _cmd_bundle, "pack a TFLite artifact as a mobile bundle"))

    from liveri.benchmarks.main import add_bench_arguments, add_release_arguments

    add_bench_arguments(add("bench", _cmd_bench, "benchmark every artifact and the server"))
    add_release_arguments(add("release", _cmd_release, "judge a version against its budgets"))

    p = add("run", _cmd_run, "train, export, bundle, serve, bench and gate an experiment")
    p.add_argument("-e", "--experiment", default="image.Digits")
    p.add_argument("--workdir", default="liveri-work")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")

    return parser, commands


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser, commands = _build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown and args.command == "serve":
        # Scripts written for tensorflow_model_server pass flags we do not implement: warn.
        from liveri.serve.flags import warn_unknown

        warn_unknown(unknown)
    elif unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return commands[args.command](args)
    except (UsageError, ParamsError, registry.UnknownExperimentError) as e:
        print(f"liveri {args.command}: error: {e}", file=sys.stderr)
        return 2
    except CheckFailed as e:
        print(f"liveri {args.command}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"liveri {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
