"""The on-device runner: `python -m liveri.mobile run FILE.zip --input-file X.npy` prints JSON;
a generator's bundle also takes `--sample N [--seed S] --out DIR` (images written to DIR).

LiteRT and numpy only, like a device: no TensorFlow. Exit 0 with the answer on stdout; exit 2
with the reason on stderr for a changed file in the bundle or input the model does not take.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from liveri.mobile.bundle import Bundle, InputError
from liveri.mobile.inputs import read_npy, read_wav
from liveri.mobile.samples import write_samples

from liveri.errors import UsageError

PROG = "python -m liveri.mobile"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Run a Liveri bundle on LiteRT.")
    subs = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = subs.add_parser("run", help="answer one raw example with a bundle; prints JSON")
    run.add_argument("bundle", metavar="FILE.zip", help="a bundle written by `liveri bundle`")
    given = run.add_mutually_exclusive_group(required=True)
    given.add_argument("--input-file", metavar="X.npy",
                       help="image and tensor bundles: one example, .npy (a model of several "
                            "inputs: .npz, one array per input)")
    given.add_argument("--text", metavar="STR", help="text bundles: the input string")
    given.add_argument("--wav", metavar="FILE.wav", help="audio bundles: mono 16-bit PCM")
    given.add_argument("--sample", type=int, metavar="N",
                       help="generator bundles: decode N latents drawn from the prior into "
                            "images in --out (PNG each, grid.png, samples.npy)")
    run.add_argument("--seed", type=int, default=0, help="--sample: the latents' seed")
    run.add_argument("--out", metavar="DIR", help="--sample: where the images go")
    run.add_argument("--num-threads", type=int, default=1, help="LiteRT interpreter threads")
    return parser


def raw_input(bundle: Bundle, args: argparse.Namespace) -> Any:
    """The raw example from whichever flag was given, refusing one the bundle does not take."""
    flag = bundle.kind.input_flag  # e.g. "--wav FILE.wav"
    wanted = flag.split()[0].lstrip("-").replace("-", "_")
    if getattr(args, wanted, None) is None:
        raise InputError(f"this bundle takes {bundle.input_kind} input: pass {flag}")
    if wanted == "input_file":
        return read_npy(args.input_file)
    if wanted == "wav":
        return read_wav(args.wav, bundle.spec["preprocessing"]["raw_input"]["sample_rate"])
    return args.text


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        bundle = Bundle(args.bundle, num_threads=args.num_threads)
        if args.sample is not None:
            if not args.out:
                raise InputError("--sample: expected --out DIR for the images")
            answer = write_samples(bundle, args.sample, args.seed, args.out)
        else:
            answer = bundle.predict(raw_input(bundle, args))
    except UsageError as e:
        print(f"{PROG} {args.command}: error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main())
