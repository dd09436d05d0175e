"""`liveri bundle`: the command-line face of the bundler."""

from __future__ import annotations

import argparse
import json
import zipfile

from liveri.mobile.bundler import make_bundle

from liveri.artifact import formats
from liveri.errors import UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare `liveri bundle`'s flags on its subparser."""
    parser.add_argument("--model_repo", required=True, help="model repository (liveri export)")
    parser.add_argument("--name", required=True, help="model name, the folder under REPO")
    parser.add_argument("--version", type=int, help="version to bundle (default: the newest)")
    parser.add_argument("--format",
                        help="TFLite artifact to pack: " + ", ".join(formats.BUNDLEABLE)
                        + " (default: chosen by measurement among those within the release "
                        "budgets, by release.bundle_prefer: size or latency)")
    parser.add_argument("--out", required=True, metavar="FILE.zip", help="bundle to write")


def bundle_command(args: argparse.Namespace) -> int:
    """Write the bundle and say where it went and what it holds."""
    if args.version is not None and args.version < 1:
        raise UsageError(f"--version: expected a positive integer, got {args.version}")
    out = make_bundle(args.model_repo, args.name, args.version, args.format, out=args.out)
    chosen = json.loads(zipfile.ZipFile(out).read("bundle.json"))["chosen"]
    print(f"wrote {out} ({out.stat().st_size} bytes): {args.name}, {chosen['why']}")
    return 0
