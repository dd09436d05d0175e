"""The on-device runner: `python -m liveri.mobile run FILE.zip --input-file X.npy` prints JSON.

LiteRT and numpy only, like a device: no TensorFlow. Exit 0 with the answer on stdout; exit 2
with the reason on stderr for a changed file in the bundle or input the model does not take.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from liveri.mobile import schema
from liveri.mobile.bundle import Bundle, InputError
from liveri.mobile.inputs import read_npy, read_wav

from liveri.errors import UsageError

PROG = "python -m liveri.mobile"
# Which command-line flag carries each kind of raw input.
_FLAG_OF_KIND = {"image": "input_file", "text": "text", "audio": "wav"}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Run a Liveri bundle on LiteRT.")
    subs = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = subs.add_parser("run", help="answer one raw example with a bundle; prints JSON")
    run.add_argument("bundle", metavar="FILE.zip", help="a bundle written by `liveri bundle`")
    given = run.add_mutually_exclusive_group(required=True)
    given.add_argument("--input-file", metavar="X.npy", help="image bundles: one example, .npy")
    given.add_argument("--text", metavar="STR", help="text bundles: the input string")
    given.add_argument("--wav", metavar="FILE.wav", help="audio bundles: mono 16-bit PCM")
    run.add_argument("--num-threads", type=int, default=1, help="LiteRT interpreter threads")
    return parser


def raw_input(bundle: Bundle, args: argparse.Namespace) -> Any:
    """The raw example from whichever flag was given, refusing one the bundle does not take."""
    kind = bundle.input_kind
    wanted = _FLAG_OF_KIND.get(kind)
    if wanted is None or getattr(args, wanted) is None:
        how = schema.INPUT_FLAGS.get(kind, "an input this runner cannot read")
        raise InputError(f"this bundle takes {kind} input: pass {how}")
    if kind == "image":
        return read_npy(args.input_file)
    if kind == "audio":
        return read_wav(args.wav, bundle.spec["preprocessing"]["raw_input"]["sample_rate"])
    return args.text


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        bundle = Bundle(args.bundle, num_threads=args.num_threads)
        answer = bundle.predict(raw_input(bundle, args))
    except UsageError as e:
        print(f"{PROG} {args.command}: error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main())
